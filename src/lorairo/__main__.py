import sys

from lorairo.main import main

sys.exit(main())
