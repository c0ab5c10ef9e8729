"""Splitting the collected output into sections and entries, whatever the agent's journals hold."""

from __future__ import annotations

from datetime import UTC, datetime

from openflow_autopilot.openflow.agent import markers
from openflow_autopilot.openflow.agent.journal import parse_collected
from openflow_autopilot.openflow.agent.log_entries import parse_log_lines, parse_timestamp

NOW = datetime(2025, 6, 23, 10, 0, tzinfo=UTC)
HOST = "ip-10-10-6-22.ap-northeast-1.compute.internal"


def test_classic_timestamps_get_the_year_of_now_and_never_lie_in_the_future() -> None:
    assert parse_timestamp("Jun 23 06:12:24", reference=NOW) == datetime(2025, 6, 23, 6, 12, 24, tzinfo=UTC)
    new_year = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert parse_timestamp("Dec 31 23:59:58", reference=new_year) == datetime(
        2025, 12, 31, 23, 59, 58, tzinfo=UTC
    )


def test_short_iso_with_or_without_a_colon_in_the_offset_and_nanoseconds_all_parse() -> None:
    expected = datetime(2025, 6, 23, 6, 12, 24, tzinfo=UTC)
    assert parse_timestamp("2025-06-23T06:12:24+0000", reference=NOW) == expected
    assert parse_timestamp("2025-06-23T06:12:24+00:00", reference=NOW) == expected
    stamp = parse_timestamp("2025-06-23T06:12:24.488934848Z", reference=NOW)
    assert stamp is not None and stamp.replace(microsecond=0) == expected
    assert parse_timestamp("not a time", reference=NOW) is None


def test_the_seeds_docker_line_yields_dockers_level_and_message_and_the_journal_time() -> None:
    line = (
        f'Jun 23 06:12:24 {HOST} dockerd[27020]: time="2025-06-23T06:12:24.488934848Z" level=error '
        "msg=\"Upload failed: name unknown: The repository with name 'snowflake-openflow/runtime-operator' "
        "does not exist in the registry with id 'xxxxxxxxxxxx'\""
    )
    [entry] = parse_log_lines("docker", [line], reference=NOW)
    assert entry.source == "dockerd"
    assert entry.level == "error"
    assert entry.timestamp == datetime(2025, 6, 23, 6, 12, 24, tzinfo=UTC)
    assert entry.message.startswith("Upload failed: name unknown: The repository with name")


def test_an_identifier_with_a_pid_is_not_taken_for_the_host_when_the_hostname_is_absent() -> None:
    [entry] = parse_log_lines(
        "sync-images",
        ["2025-06-23T06:12:01+0000 sync-images.sh[31544]: Error: boom: it broke"],
        reference=NOW,
    )
    assert entry.source == "sync-images.sh"
    assert entry.message == "Error: boom: it broke"


def test_indented_continuation_lines_join_the_entry_they_continue() -> None:
    lines = [
        f"2025-06-23T06:12:01+0000 {HOST} agent[7]: first line of a multi-line message",
        "                                                      second line",
        "                                                      third line",
        f"2025-06-23T06:12:02+0000 {HOST} agent[7]: next entry",
    ]
    entries = parse_log_lines("sync-images", lines, reference=NOW)
    assert [e.message for e in entries] == [
        "first line of a multi-line message\nsecond line\nthird line",
        "next entry",
    ]


def test_a_python_traceback_logged_line_by_line_becomes_one_entry_ending_with_the_exception() -> None:
    prefix = f"2025-06-23T06:12:01+0000 {HOST} sync-images.sh[9]:"
    lines = [
        f"{prefix} Traceback (most recent call last):",
        f'{prefix}   File "/usr/bin/snow", line 5, in <module>',
        f"{prefix}     from snowflake.cli._app.__main__ import main",
        f"{prefix} ModuleNotFoundError: No module named 'snowflake.cli'",
        f"{prefix} Done syncing repositories!",
    ]
    entries = parse_log_lines("sync-images", lines, reference=NOW)
    assert len(entries) == 2
    assert entries[0].message.endswith("ModuleNotFoundError: No module named 'snowflake.cli'")
    assert entries[1].message == "Done syncing repositories!"


def test_ansi_colour_codes_and_nul_bytes_are_removed_before_matching() -> None:
    text = markers.render_collected_output(
        {
            "sync-images": f"2025-06-23T06:12:01+0000 {HOST} sync-images.sh[1]: "
            "\x1b[32mLogin\x00 Succeeded\x1b[0m"
        }
    )
    collected = parse_collected(text, now=NOW)
    [entry] = collected.sections["sync-images"].entries
    assert entry.message == "Login Succeeded"


def test_sections_are_split_by_markers_and_keep_the_reading_commands_exit_code() -> None:
    text = markers.render_collected_output(
        {
            "timers": "Unit openflow-sync-images.timer could not be found.",
            "docker": f"2025-06-23T06:12:01+0000 {HOST} dockerd[1]: hello",
        },
        exit_codes={"timers": 4},
        time=NOW,
    )
    collected = parse_collected(text)
    assert set(collected.sections) == {"timers", "docker"}
    assert collected.sections["timers"].exit_code == 4
    assert collected.sections["docker"].complete
    assert collected.complete and not collected.cut
    assert collected.agent_time == NOW


def test_a_failed_read_is_recorded_as_a_read_error_not_analysed_as_a_log() -> None:
    text = markers.render_collected_output(
        {
            "cloud-init": "tail: cannot open '/var/log/cloud-init-output.log' for reading: "
            "No such file or directory"
        },
        exit_codes={"cloud-init": 1},
    )
    section = parse_collected(text, now=NOW).sections["cloud-init"]
    assert section.entries == []
    assert section.read_error is not None and "cannot open" in section.read_error


def test_sections_cut_short_by_ssm_get_their_error_lines_back_from_the_highlights() -> None:
    error = (
        f"2025-06-23T06:12:24+0000 {HOST} sync-images.sh[3]: name unknown: The repository with name "
        "'snowflake-openflow/runtime-operator' does not exist in the registry with id '123456789012'"
    )
    full = markers.render_collected_output(
        {
            "highlights": f"sync-images| {error}",
            "sync-images": "\n".join(
                [f"2025-06-23T06:12:0{i}+0000 {HOST} sync-images.sh[3]: noise {i}" for i in range(5)]
                + [error]
            ),
        }
    )
    inline = full[: full.index("noise 3")]  # what SSM returns inline: the start only
    collected = parse_collected(inline, now=NOW)
    section = collected.sections["sync-images"]
    assert not section.complete
    assert section.from_highlights == 1
    assert section.entries[-1].message.startswith("name unknown")
    assert collected.cut


def test_lines_after_a_cut_belong_to_the_section_whose_end_marker_follows_them() -> None:
    body = "\n".join(
        f"2025-06-23T06:12:01+0000 {HOST} dockerd[1]: line {i:06d} " + "x" * 80 for i in range(4000)
    )
    text = markers.render_collected_output({"timers": "Active: active (waiting)", "docker": body})
    collected = parse_collected(text, now=NOW, max_chars=200_000)
    assert collected.cut
    docker = collected.sections["docker"]
    assert docker.entries and docker.entries[-1].message.startswith("line 003999")
    assert any("analysed its first" in note for note in collected.notes)


def test_a_plain_journal_without_markers_is_analysed_as_one_section_and_not_called_cut() -> None:
    text = "\n".join(
        [
            f'Jun 23 06:12:24 {HOST} dockerd[27020]: level=error msg="Upload failed"',
            f'Jun 23 06:12:25 {HOST} dockerd[27020]: level=info msg="ignoring event"',
        ]
    )
    collected = parse_collected(text, now=NOW)
    assert list(collected.sections) == ["output"]
    assert len(collected.sections["output"].entries) == 2
    assert collected.recognised and not collected.cut and collected.unreadable_reason is None
