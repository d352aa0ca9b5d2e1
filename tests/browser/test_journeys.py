"""Journeys end to end in Chromium against the development server: each in Dutch at desktop
width, at 360 px and without JavaScript, and once in every other language (see `VISITS`
in conftest). The steps are in `journeys.py`.
"""

from __future__ import annotations

import pytest

from tests.browser import journeys

pytestmark = pytest.mark.browser


def test_a_student_reports_the_handler_asks_and_the_student_answers(visit_factory, live, staff):
    journeys.student_reports_handler_asks_student_answers(visit_factory, live, staff)


def test_a_named_report_goes_to_the_adv_and_to_sbb_and_the_student_reads_the_outcome(
    visit_factory, live, staff, tmp_path
):
    journeys.named_report_goes_to_adv_and_sbb_and_student_reads_outcome(
        visit_factory, live, staff, tmp_path
    )


def test_a_monitor_chooses_a_table_and_exports_it(visit_factory, live, staff):
    journeys.monitor_chooses_a_table_and_exports_it(visit_factory, live, staff)


def test_a_student_whose_report_meets_the_database_away_keeps_it_and_sends_it_again(
    visit_factory, live
):
    journeys.report_while_the_database_is_away(visit_factory, live)
