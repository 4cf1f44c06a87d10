"""genai-tag-db-tools: tag database, cleaning rules and autocomplete."""
