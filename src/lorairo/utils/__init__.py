"""Small Qt-free helpers: configuration files, logging."""
