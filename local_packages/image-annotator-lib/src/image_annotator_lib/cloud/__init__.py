"""Cloud vision models (OpenAI, Anthropic, Google, OpenAI-compatible servers) for image-annotator-lib.

Importing this package imports no SDK. Submodules: `annotator` (CloudAnnotator), `estimate` (estimate()),
`batch` (Batch APIs), `prompt` (per-image prompt variables), `errors`.
"""

from __future__ import annotations

from image_annotator_lib.cloud.annotator import CloudAnnotator
from image_annotator_lib.cloud.batch import (
    BatchJob,
    BatchNotReadyError,
    batch_status,
    fetch_batch_results,
    list_batch_jobs,
    load_batch_job,
    parse_batch_results_file,
    submit_batch,
    wait_for_batch,
)
from image_annotator_lib.cloud.errors import (
    AuthenticationError,
    CloudConfigError,
    CloudError,
    MalformedResponseError,
    MissingAPIKeyError,
    PolicyViolationError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
)
from image_annotator_lib.cloud.prompt import prompt_defaults, set_prompt_context

__all__ = [
    "AuthenticationError",
    "BatchJob",
    "BatchNotReadyError",
    "CloudAnnotator",
    "CloudConfigError",
    "CloudError",
    "MalformedResponseError",
    "MissingAPIKeyError",
    "PolicyViolationError",
    "ProviderError",
    "RateLimitError",
    "RequestTimeoutError",
    "batch_status",
    "fetch_batch_results",
    "list_batch_jobs",
    "load_batch_job",
    "parse_batch_results_file",
    "prompt_defaults",
    "set_prompt_context",
    "submit_batch",
    "wait_for_batch",
]
