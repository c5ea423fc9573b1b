import sys

from stackwatch.cli import main

sys.exit(main())
