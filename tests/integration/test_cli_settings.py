"""Settings through the real CLI: the generated reference stays true, and a broken
`runtime.toml` or an invalid tenant stops every command with one line, exit 2."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli_errors import one_line, run_cli

REPO = Path(__file__).resolve().parents[2]


def test_settings_reference_matches_the_model(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "settings", "--markdown")
    assert done.returncode == 0, done.stderr
    assert (REPO / "docs" / "settings.md").read_text() == done.stdout, (
        "docs/settings.md is out of date: run `runtime settings --markdown > docs/settings.md`"
    )


def test_malformed_runtime_toml_names_file_and_row(project: Path) -> None:
    (project / "runtime.toml").write_text('tenant = "acme"\nmax_steps = \n')
    done = run_cli(project, "runs", "list")
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"error: {project / 'runtime.toml'} row 2, column 13: invalid value; "
        "fix the TOML syntax there"
    )


def test_invalid_tenant_is_refused_at_load(project: Path) -> None:
    (project / "runtime.toml").write_text('tenant = "Acme Corp"\n')
    done = run_cli(project, "settings")
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        "error: invalid setting tenant: 'Acme Corp' is not a tenant name: use lowercase "
        "letters, digits, _ and -, starting with a letter or digit, at most 63 characters"
    )
    assert not (project / ".state").exists()


def test_settings_in_effect_follow_toml_then_environment(project: Path) -> None:
    (project / "runtime.toml").write_text('tenant = "acme"\nmax_steps = 7\n')
    done = run_cli(project, "settings", env={"RUNTIME_MAX_STEPS": "9"})
    assert done.returncode == 0, done.stderr
    lines = set(done.stdout.splitlines())
    assert {'tenant = "acme"', "max_steps = 9", f'state_dir = "{project / ".state"}"'} <= lines


def test_global_options_before_the_command(project: Path, tmp_path: Path) -> None:
    """`--project` and `--debug` work before the command and, as before, after it."""
    (project / "runtime.toml").write_text('tenant = "acme"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = run_cli(elsewhere, "--project", str(project), "settings")
    after = run_cli(elsewhere, "settings", "--project", str(project))
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert 'tenant = "acme"' in before.stdout.splitlines()
    assert before.stdout == after.stdout
    (project / "runtime.toml").write_text("tenant = \n")
    debug = run_cli(project, "--debug", "settings")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr
    version = run_cli(project, "--version")
    assert (version.returncode, version.stdout.split()[0]) == (0, "runtime")
