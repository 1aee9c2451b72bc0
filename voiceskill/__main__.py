import sys

from voiceskill.cli import main

sys.exit(main())
