"""``metagui`` / ``python -m metagui``: open the window on the shipped checkpoint."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from core.shipped import resolve_checkpoint
from metagui import __version__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="metagui",
        description="Teach a meta-trained few-shot learner new classes by drawing or dropping "
        "examples, and watch it adapt and classify live.",
    )
    parser.add_argument(
        "--checkpoint",
        type=resolve_checkpoint,
        help="checkpoint to open: a file, or a shipped one by name (anil-omniglot); default: the "
        "last one used, else the first shipped one (or of the folder named by METAGUI_CHECKPOINTS)",
    )
    parser.add_argument(
        "session", nargs="?", type=Path, help="a .metagui session file to open (File ▸ Save)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)"
    )
    parser.add_argument("--version", action="version", version=f"metagui {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.session is not None and not args.session.is_file():
        print(f"metagui: no such session file: {args.session}", file=sys.stderr)
        return 2
    if args.checkpoint is not None and not args.checkpoint.is_file():
        print(f"metagui: no such checkpoint file: {args.checkpoint}", file=sys.stderr)
        return 2
    if args.threads < 0:
        print(
            f"metagui: --threads must be 0 (torch's choice) or more, not {args.threads}",
            file=sys.stderr,
        )
        return 2
    if args.threads > 0:  # read by torch when it loads, on the model thread
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    # first paint before torch loads: Qt and the window's modules only (torch and core load on
    # the model thread while the window is already on screen; benchmarks/startup.py)
    from PySide6.QtWidgets import QApplication

    from metagui.control.runtime import freeze_startup_objects, tune_process
    from metagui.ui.main_window import MainWindow

    tune_process()  # allocator, GIL hand-over: see metagui/control/runtime.py
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("metagui")
    app.setDesktopFileName("metagui")  # Wayland: the window gets metagui.desktop's icon
    # absolute, as the shipped list's paths are: one checkpoint, one entry in the lists
    checkpoint = None if args.checkpoint is None else args.checkpoint.resolve()
    window = MainWindow(checkpoint=checkpoint)
    window.show()
    freeze_startup_objects()
    if args.session is not None:
        window.files.open_session(args.session)  # a bad file: said in the window, nothing opened
    signal.signal(signal.SIGINT, lambda *_: window.close())  # Ctrl+C in the terminal closes
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
