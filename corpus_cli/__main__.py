import sys

from corpus_cli.main import main

sys.exit(main())
