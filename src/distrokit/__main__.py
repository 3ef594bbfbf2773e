import sys

from distrokit.cli import main

sys.exit(main(sys.argv[1:]))
