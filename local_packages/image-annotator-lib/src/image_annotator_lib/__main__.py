"""`python -m image_annotator_lib`: see image_annotator_lib.cli.main."""

from __future__ import annotations

import sys

from image_annotator_lib.cli.main import main

sys.exit(main())
