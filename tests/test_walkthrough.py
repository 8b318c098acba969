"""theory/walkthrough.md is a doctest: every number on the page is what the code prints."""

import doctest
import os

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "theory",
                    "walkthrough.md")


def test_the_walkthrough_page_runs_as_written():
    result = doctest.testfile(PAGE, module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 20 and result.failed == 0, result
