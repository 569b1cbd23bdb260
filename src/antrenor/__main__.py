import sys

from antrenor.cli import main

sys.exit(main())
