"""Allow `python -m langchain_course_skills`."""

import sys

from langchain_course_skills.cli import main

sys.exit(main())
