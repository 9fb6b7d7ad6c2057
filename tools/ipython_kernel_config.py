"""IPython kernel settings for this project's virtual environment (``make install`` copies this file to
``.venv/etc/ipython/``, which every kernel started from the environment reads).

ipykernel 7 warns on every start that its local TCP connection is unencrypted; papermill starts one kernel per
notebook, so ``make report`` printed it four times, and readers took it for a fault. ``VERBOSE=1`` shows it again.
"""

import logging
import os


class _NoTcpNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "running over TCP without encryption" not in record.getMessage()


if os.environ.get("VERBOSE", "") in ("", "0"):
    logging.getLogger("IPKernelApp").addFilter(_NoTcpNotice())
