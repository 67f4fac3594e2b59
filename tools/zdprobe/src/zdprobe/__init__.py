"""zdprobe: a bounded, steady-rate HTTP probe that tells whether a rollout dropped requests.

Command line: ``zdprobe URL`` or ``python -m zdprobe URL`` (see ``docs/probe.md``). Python
API::

    from zdprobe import ProbeConfig, ProbeInBackground, run

    report = run(ProbeConfig(url="http://127.0.0.1:30080", rate=20, duration=10))
    assert report.passed, report.verdict

    with ProbeInBackground(ProbeConfig(url="http://127.0.0.1:30080", duration=600)) as probe:
        deploy()  # the probe stops when the block ends (or after `duration`)
    assert probe.report.passed, probe.report.verdict
"""

from zdprobe.config import MODES, ConfigError, Mode, ProbeConfig
from zdprobe.engine import ProbeInBackground, run
from zdprobe.report import Report, Result

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "ConfigError",
    "Mode",
    "ProbeConfig",
    "ProbeInBackground",
    "Report",
    "Result",
    "__version__",
    "run",
]
