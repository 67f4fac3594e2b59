"""One screen per deploy: a line per phase, a live rollout line, the report, the reason.

A play opts in by listing its phases in the play variable `zdk_phases`; a task starts a
phase with the variable `zdk_phase` (on the task or on an include, so the included tasks
inherit it). Tasks without `zdk_phase`, or naming an earlier phase, stay in the current
one: a rollback's re-verification belongs to the rollback. With `-v` or more, or with
ZDK_OUTPUT=full, or in a play without `zdk_phases`, this is Ansible's default output.

In a phase, the messages of `debug` tasks are the phase's detail (the last one shows);
in the phase `report` they print whole. A task with `zdk_verdict: true` states the
deploy's outcome: its failure is the reason line, not a failure of the phase it runs in.
A retried task whose result carries `rollout` (the zdk_rollout module) draws the live
rollout line: in place on a terminal, every ZDK_PROGRESS_SECONDS (default 15) otherwise.

ZDK_PHASES_JSON=path writes each phase's duration and outcome there (the benchmark's
per-phase table), and where the run's time went by kind of task: module calls (helm,
kubectl and the API: the work itself), tasks that ran on the controller alone (facts,
checks, includes: Ansible's cost per task) and skipped tasks."""

from __future__ import annotations

DOCUMENTATION = """
    name: zdk
    type: stdout
    short_description: one line per deploy phase (fastapi-zdk)
    description:
      - A deploy on one screen; Ansible's default output at -v and in plays without zdk_phases.
    extends_documentation_fragment:
      - default_callback
      - result_format_callback
    requirements:
      - set as stdout_callback in ansible.cfg
"""

import json
import os
import sys
import threading
import time
from typing import Any

from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.utils.fqcn import add_internal_fqcns

# Where to read on when a phase fails (docs/runbooks/).
PHASE_RUNBOOKS = {
    "preflight": "docs/runbooks/deploy.md",
    "lock": "docs/runbooks/stuck-release.md",
    "image": "docs/runbooks/deploy.md",
    "migrations": "docs/runbooks/migrations.md",
    "preview": "docs/runbooks/deploy.md",
    "release": "docs/runbooks/rollback.md",
    "verify": "docs/runbooks/rollback.md",
    "rollback": "docs/runbooks/rollback.md",
}
LIVE_TICK_SECONDS = 1.0
# Actions that run on the controller alone: their time is Ansible's cost per task.
CONTROLLER_ACTIONS = frozenset(
    add_internal_fqcns(
        (
            "set_fact", "fail", "assert", "debug", "include_tasks", "import_tasks",
            "include_role", "import_role", "include_vars", "validate_argument_spec", "meta",
            "set_stats", "pause",
        )
    )
)  # fmt: skip


def _result_of(result: Any) -> dict[str, Any]:
    """The result dict (ansible-core 2.19+: .result; older: ._result)."""
    data = getattr(result, "result", None)
    if data is None:
        data = getattr(result, "_result", {})
    return dict(data or {})


def _task_var(task: Any, name: str) -> Any:
    """A variable set on the task or on an include/block above it (raw, untemplated)."""
    try:
        return task.get_vars().get(name)
    except Exception:
        return None


def _one_line(value: Any, width: int = 160) -> str:
    if isinstance(value, list | tuple):
        value = next((v for v in reversed(value) if str(v).strip()), "")
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _reason(data: dict[str, Any]) -> str:
    """What a failed task says, in one line."""
    if data.get("censored"):
        return "a task with hidden output failed (re-run with -v for its name)"
    for key in ("msg", "stderr", "stdout"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            lines = [ln for ln in value.strip().splitlines() if ln.strip()]
            return _one_line(lines[-1] if key != "msg" else value, 4000)
    return "failed"


class CallbackModule(DefaultCallback):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "zdk"

    def __init__(self) -> None:
        super().__init__()
        self._compact = False
        self._phases: list[str] = []
        self._phase: str | None = None
        self._phase_started = 0.0
        self._phase_failed = False
        self._phase_detail = ""
        self._done: list[dict[str, Any]] = []
        self._task_name = ""
        self._rollout = ""
        self._rollout_live = False
        self._rollout_printed = 0.0
        self._failure: tuple[str, str] | None = None
        self._tasks = 0
        self._started = time.monotonic()
        self._tty = sys.stdout.isatty()
        self._live_shown = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._progress_every = float(os.environ.get("ZDK_PROGRESS_SECONDS", "15") or 15)
        self._last_progress = 0.0
        # Time by kind of task (module, controller, skipped): {"count": n, "seconds": s}.
        self._task_time: dict[str, dict[str, float]] = {}
        self._timed_kind = ""
        self._timed_since = 0.0

    def _time_task(self, task: Any | None) -> None:
        """Close the running task's time (its results came before the next task starts)
        and open the next one's."""
        now = time.monotonic()
        if self._timed_kind:
            bucket = self._task_time.setdefault(self._timed_kind, {"count": 0, "seconds": 0.0})
            bucket["count"] += 1
            bucket["seconds"] = round(bucket["seconds"] + now - self._timed_since, 3)
        self._timed_kind = ""
        if task is not None:
            action = str(getattr(task, "action", "") or "")
            self._timed_kind = "controller" if action in CONTROLLER_ACTIONS else "module"
            self._timed_since = now

    # ----------------------------------------------------------------- output
    def _emit(self, line: str, color: str | None = None) -> None:
        with self._lock:
            self._clear_live()
            self._display.display(line, color=color)
            self._draw_live()

    def _live_text(self) -> str:
        if self._phase is None:
            return ""
        elapsed = time.monotonic() - self._phase_started
        what = (
            (self._rollout if self._rollout_live else "") or self._phase_detail or self._task_name
        )
        return f"  … {self._phase:<11} {elapsed:5.1f}s  {_one_line(what, 90)}"

    def _clear_live(self) -> None:
        if self._tty and self._live_shown:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()
            self._live_shown = False

    def _draw_live(self) -> None:
        if not self._tty or self._phase is None:
            return
        sys.stdout.write("\r\033[K" + self._live_text()[:200])
        sys.stdout.flush()
        self._live_shown = True

    def _tick(self) -> None:
        while not self._stop.wait(LIVE_TICK_SECONDS):
            with self._lock:
                if self._phase is None:
                    continue
                if self._tty:
                    self._draw_live()
                elif time.monotonic() - self._last_progress >= self._progress_every:
                    self._last_progress = time.monotonic()
                    self._display.display(self._live_text())

    # ----------------------------------------------------------------- phases
    def _close_phase(self, skipped_until: str | None = None) -> None:
        now = time.monotonic()
        if self._phase is not None:
            seconds = now - self._phase_started
            ok = not self._phase_failed
            self._done.append(
                {
                    "name": self._phase,
                    "seconds": round(seconds, 2),
                    "status": "ok" if ok else "failed",
                }
            )
            mark = "✓" if ok else "✗"
            detail = f"  {_one_line(self._phase_detail, 110)}" if self._phase_detail else ""
            if self._rollout and self._phase in ("release", "verify", "rollback"):
                detail = f"  {self._rollout}" + (
                    f"; {_one_line(self._phase_detail, 80)}" if self._phase_detail else ""
                )
            self._emit(f" {mark} {self._phase:<11} {seconds:5.1f}s{detail}", None if ok else "red")
        self._phase = None
        self._rollout = ""
        self._rollout_live = False
        if skipped_until is not None:
            self._mark_skipped(until=skipped_until)

    def _mark_skipped(self, until: str | None, label: str = "skipped") -> None:
        """Phases before `until` (all, if None) that never ran."""
        seen = {p["name"] for p in self._done}
        for name in self._phases:
            if name == until:
                break
            if name not in seen and name != "report":
                self._done.append({"name": name, "seconds": 0.0, "status": label})
                self._emit(f" - {name:<11}     -  {label}")

    def _enter(self, name: str) -> None:
        if name == self._phase:
            return
        running = self._phase
        if (
            running in self._phases
            and name in self._phases
            and self._phases.index(name) < self._phases.index(running)
        ):
            return  # back-references stay in the running phase
        self._close_phase(skipped_until=name)
        self._phase = name
        self._phase_started = time.monotonic()
        self._phase_failed = False
        self._phase_detail = ""
        self._last_progress = time.monotonic()

    # ----------------------------------------------------------------- events
    def v2_playbook_on_play_start(self, play: Any) -> None:
        phases = None
        try:
            phases = play.get_vars().get("zdk_phases")
        except Exception:
            phases = None
        self._compact = (
            bool(phases)
            and self._display.verbosity == 0
            and os.environ.get("ZDK_OUTPUT", "") != "full"
        )
        if not self._compact:
            super().v2_playbook_on_play_start(play)
            return
        self._phases = [str(p) for p in phases or []]
        self._started = time.monotonic()
        self._emit(f"{play.get_name().strip()}")
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="zdk-live", daemon=True)
            self._ticker.start()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._time_task(task)
        if not self._compact:
            super().v2_playbook_on_task_start(task, is_conditional)
            return
        phase = _task_var(task, "zdk_phase")
        with self._lock:
            if isinstance(phase, str) and phase:
                self._enter(phase)
            self._task_name = task.get_name().strip()

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        if not self._compact:
            super().v2_playbook_on_handler_task_start(task)

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        if not self._compact:
            super().v2_runner_on_start(host, task)

    def v2_playbook_on_include(self, included_file: Any) -> None:
        if not self._compact:
            super().v2_playbook_on_include(included_file)

    def v2_runner_on_ok(self, result: Any) -> None:
        if not self._compact:
            super().v2_runner_on_ok(result)
            return
        self._tasks += 1
        data = _result_of(result)
        if "rollout" in data and isinstance(data["rollout"], dict):
            self._show_rollout(data["rollout"], final=True)
        action = getattr(result.task, "action", "")
        if action in ("debug", "ansible.builtin.debug", "ansible.legacy.debug") and "msg" in data:
            msg = data["msg"]
            if self._phase == "report" or self._phase is None:
                for line in msg if isinstance(msg, list) else [msg]:
                    self._emit(f"   {_one_line(line, 400)}")
            else:
                with self._lock:
                    self._phase_detail = _one_line(msg, 200)

    def v2_runner_on_skipped(self, result: Any) -> None:
        if self._timed_kind:
            self._timed_kind = "skipped"
        if not self._compact:
            super().v2_runner_on_skipped(result)

    def v2_runner_item_on_ok(self, result: Any) -> None:
        if not self._compact:
            super().v2_runner_item_on_ok(result)

    def v2_runner_item_on_skipped(self, result: Any) -> None:
        if not self._compact:
            super().v2_runner_item_on_skipped(result)

    def v2_runner_item_on_failed(self, result: Any) -> None:
        if not self._compact:
            super().v2_runner_item_on_failed(result)

    def v2_on_file_diff(self, result: Any) -> None:
        if not self._compact:
            super().v2_on_file_diff(result)

    def v2_runner_retry(self, result: Any) -> None:
        if not self._compact:
            super().v2_runner_retry(result)
            return
        data = _result_of(result)
        if isinstance(data.get("rollout"), dict):
            self._show_rollout(data["rollout"], final=False)

    def _show_rollout(self, rollout: dict[str, Any], final: bool) -> None:
        want = int(rollout.get("replicas", 0) or 0)
        text = (
            f"rollout: new {rollout.get('new_ready', 0)}/{want} ready, "
            f"old {rollout.get('old_ready', 0)} ready"
        )
        if rollout.get("not_ready"):
            text += f", {rollout['not_ready']} starting"
        with self._lock:
            changed = text != self._rollout
            self._rollout = text
            self._rollout_live = not final
            if self._tty:
                self._draw_live()
            elif changed and not final and time.monotonic() - self._rollout_printed >= 2:
                self._rollout_printed = time.monotonic()
                self._last_progress = time.monotonic()
                self._display.display(self._live_text())

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not self._compact:
            super().v2_runner_on_failed(result, ignore_errors)
            return
        self._tasks += 1
        if ignore_errors:
            return
        self._record_failure(result, verdict=bool(_task_var(result.task, "zdk_verdict")))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        if not self._compact:
            super().v2_runner_on_unreachable(result)
            return
        self._record_failure(result, verdict=False)

    def _record_failure(self, result: Any, verdict: bool) -> None:
        """Keep the reason (the last failure is the run's); a verdict task's failure
        states the outcome and does not mark its phase failed."""
        with self._lock:
            if not verdict:
                self._phase_failed = True
            self._failure = (self._phase or "", _reason(_result_of(result)))

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._time_task(None)
        if not self._compact:
            super().v2_playbook_on_stats(stats)
            self._display.display(
                f"run took {time.monotonic() - self._started:.1f}s", screen_only=True
            )
            return
        self._stop.set()
        failed = any(
            stats.summarize(h)["failures"] or stats.summarize(h)["unreachable"]
            for h in stats.processed
        )
        with self._lock:
            if self._phase == "report":
                self._phase = None
            self._close_phase()
            if not failed:  # after a failure, the phases not reached go unsaid
                self._mark_skipped(until=None)
            total = time.monotonic() - self._started
            changed = sum(stats.summarize(h)["changed"] for h in stats.processed)
            self._emit(
                f"{'failed after' if failed else 'done in'} {total:.1f}s "
                f"({self._tasks} tasks, {changed} changed)"
            )
            if failed:
                phase, reason = self._failure or ("", "failed (re-run with -v to see where)")
                where = PHASE_RUNBOOKS.get(phase, "docs/runbooks/deploy.md")
                # The last line: the reason, then where to look. Preflight changes nothing.
                look = (
                    f"nothing was changed; see {where}"
                    if phase in ("preflight", "")
                    else f"see {where}; ansible-playbook playbooks/status.yml"
                ) + "; -v for the full log"
                self._emit(f"FAILED: {reason} [{look}]", "red")
        self._write_json(failed, total)

    def _write_json(self, failed: bool, total: float) -> None:
        path = os.environ.get("ZDK_PHASES_JSON", "")
        if not path:
            return
        report = {
            "status": "failed" if failed else "ok",
            "seconds": round(total, 2),
            "tasks": self._tasks,
            "phases": self._done,
            "task_time": self._task_time,
            "failure": self._failure[1] if failed and self._failure else None,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
