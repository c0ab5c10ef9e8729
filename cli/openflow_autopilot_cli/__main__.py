import sys

from openflow_autopilot_cli.main import main

sys.exit(main())
