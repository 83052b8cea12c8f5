"""Command-line interface: ``python -m tdlib <command>``.

Commands:
    list     the book's chapters, their parameters and profiles
    run      execute chapter notebooks with papermill (a profile, -p key=value, --recompute); with
             --executor local|dask, first compute the missing cells of each chapter's grid, and
             with --grid-only stop there (no Jupyter needed: a GPU machine, a background run)
    plan     runs, cached, missing and the estimated compute of each chapter's grid (--gflops G)
    results  what the results cache holds per chapter and profile, what is missing, and the work
             in progress (training runs with a checkpoint, sharded cells with cached parts)
    stop     ask the trainings that write to the results cache to save a checkpoint at their next
             batch and end (a session's end without losing work); ``run`` resumes them
    models   list the registered architectures
    params   print the paper's Table 1 beside ours and the original code's
    bench    measure training and inference speed (images/s, FLOP/s, TD/BU ratios), the attacks
             (--attacks) or Grad-CAM (--gradcam)

Exit status: 0 done, 1 failed cells or notebooks, 2 bad arguments, 3 ``run`` stopped on
request (``stop``: its trainings saved their checkpoints; the same command resumes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: Exit status of a ``run`` that a stop request ended (its trainings saved their checkpoints).
STOPPED = 3


def _cmd_list(args: argparse.Namespace) -> int:
    from .book.chapters import CHAPTERS, PROFILES
    from .book.runner import notebook_parameters

    for ch in CHAPTERS:
        if not ch.notebook:
            kind = f"placeholder: {ch.filled_by}" if ch.filled_by else "text"
            print(f"{ch.name:<14} {kind}")
            continue
        print(f"{ch.name:<14} notebook, default profile {ch.default_profile}")
        for name, default in notebook_parameters(ch).items():
            print(f"{'':<16}{name} = {default}")
        for profile in PROFILES:
            values = ", ".join(f"{k}={v!r}" for k, v in ch.profiles.get(profile, {}).items()) or "(no knobs)"
            print(f"{'':<16}[{profile}] {values}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .book.runner import ChapterFailed, parse_assignments, run_chapters

    params = parse_assignments(args.param)
    if args.executor is None and (args.scheduler or args.workers or args.gpus):
        raise ValueError("--scheduler, --workers and --gpus need --executor dask")
    if args.grid_only and args.executor is None:
        raise ValueError("--grid-only needs --executor local or dask (it computes the grids and runs no notebook)")
    from .book.results import clear_stop

    if (earlier := clear_stop()) is not None:
        print(f"removed an earlier stop request ({earlier}); this run resumes from the checkpoints")
    if args.executor is not None:
        failed = _fill_grids(args, params)
        if failed or args.grid_only:
            return failed
    try:
        reports = run_chapters(args.chapters, args.profile, params, recompute=args.recompute,
                               output_dir=args.output_dir, log=args.log)
    except ChapterFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in reports:
        print(f"{r.chapter}: profile {r.profile}, {r.seconds:.1f} s -> {r.output}")
    return 0


def _chapter_settings(name: str, profile: str | None, params: dict[str, object]) -> tuple[str, dict[str, object]]:
    """A chapter's profile (default: its committed one) and its settings with the ``-p`` knobs it has."""
    from .book.chapters import get_chapter, settings

    ch = get_chapter(name)
    prof = profile or ch.default_profile or "cpu"
    return prof, settings(name, prof, **{k: v for k, v in params.items() if k in ch.knobs()})


def _fill_grids(args: argparse.Namespace, params: dict[str, object]) -> int:
    """``run --executor``: the missing cells of each chapter's grid; 0, 1 when cells failed, or
    :data:`STOPPED` when a stop request ended it."""
    from .book.chapters import check_profile, get_chapter, notebook_chapters
    from .book.executor import CellsFailed, check_executor, run_cells
    from .book.runner import resolve

    check_executor(args.executor)
    if args.recompute:
        raise ValueError("--executor computes only what the cache lacks; it does not combine with --recompute")
    if args.executor == "local" and (args.scheduler or args.workers or args.gpus):
        raise ValueError("--scheduler, --workers and --gpus apply to --executor dask only")
    chapters = [get_chapter(n) for n in args.chapters] if args.chapters else notebook_chapters()
    for ch in chapters:  # every name and parameter checked before anything runs
        if not ch.notebook:
            raise ValueError(f"chapter {ch.name!r} is text, not a notebook")
        if not args.grid_only:
            resolve(ch, args.profile, params, False)
            continue
        # no notebook runs, so the grid's knobs are the parameters (and papermill is not needed)
        check_profile(args.profile or ch.default_profile or "cpu")
        if unknown := sorted(set(params) - set(ch.knobs())):
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for the grid of chapter {ch.name!r}; "
                             f"with --grid-only expected {', '.join(ch.knobs()) or 'none'}")
    for ch in chapters:
        if ch.cell_runner is None:
            print(f"{ch.name}: no grid to fill (no cell runner); its notebook computes what it shows")
            continue
        profile, s = _chapter_settings(ch.name, args.profile, params)
        try:
            summary = run_cells(ch.name, profile, s, executor=args.executor, scheduler=args.scheduler,
                                workers=args.workers, gpus=args.gpus, progress=args.log or args.executor == "dask")
        except (CellsFailed, ConnectionError) as e:
            print(f"error: {ch.name}: {e}", file=sys.stderr)
            return 1
        print(summary.line())
        if summary.stopped:
            return STOPPED  # no further chapter, no notebook
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from .book.chapters import CHAPTERS, get_chapter
    from .book.executor import format_plan, plan_table
    from .book.runner import parse_assignments

    if args.gflops is not None and args.gflops <= 0:
        raise ValueError(f"--gflops must be positive, got {args.gflops}")
    params = parse_assignments(args.param)
    chapters = [get_chapter(n) for n in args.chapters] if args.chapters else [c for c in CHAPTERS if c.planner]
    hours, gflops, unknown = 0.0, args.gflops, 0
    for ch in chapters:
        if ch.planner is None:
            print(f"{ch.name}: caches nothing (no planner)\n")
            continue
        profile, s = _chapter_settings(ch.name, args.profile, params)
        table = plan_table(ch.name, profile, s, gflops=args.gflops)  # a measured throughput is kept for the process
        gflops = table.attrs.get("gflops") or gflops
        hours += float(table.hours.sum())
        unknown += int(table.loc[table.hours.isna(), "missing"].sum())
        print(format_plan(ch.name, profile, table) + "\n")
    if len(chapters) > 1 or unknown:
        tail = f" ({unknown} missing runs not estimated)" if unknown else ""
        rate = f" at {gflops:,.1f} GFLOP/s" if gflops else ""
        print(f"total: {hours:,.2f} h for the missing runs of {len(chapters)} chapter(s){rate}{tail}")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from .book.executor import sharded_in_progress
    from .book.results import in_progress, results_root, status, stop_path

    df, running, sharded = status(), in_progress(), sharded_in_progress(args.chapter)
    if args.chapter:
        df, running = df[df.chapter == args.chapter], running[running.chapter == args.chapter]
    print(f"results cache: {results_root()}")
    if stop_path().is_file():
        print(f"a stop request is pending ({stop_path().read_text().strip()}): running trainings end at their next "
              "batch; the next `python -m tdlib run` removes it")
    print(df.to_string(index=False))
    if len(running):
        print("\nruns in progress (each resumes from its checkpoint on the next run of its grid):")
        print(running.drop(columns="experiment").to_string(index=False))
    if len(sharded):
        print("\nsharded cells in progress (their cached parts are kept; the rest is computed next):")
        print(sharded.to_string(index=False))
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from .book.results import request_stop

    path = request_stop()
    print(f"stop requested: {path}\nrunning trainings save their checkpoint at their next batch and end, and no "
          "further cell starts; wait for the run to exit (then commit the .ckpt files to move the work). "
          "The next `python -m tdlib run` removes the request and resumes.")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .nets import list_models, model_info

    for name in list_models(None):
        info = model_info(name)
        c, h, w = info.input_shape
        print(f"{name:<15} {info.paper_name:<17} {h}x{w}x{c:<3} {info.summary}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from .nets.params import format_table1, table1

    df = table1()
    if args.csv:
        df.to_csv(sys.stdout, index=False)
    else:
        print(format_table1(df))
    return 0 if bool(df.ours_eq_code.all()) else 1


def _gradcam_text(df: pd.DataFrame) -> str:
    cols = ["model", "variant", "weights", "layer", "paper", "resolution", "images", "seconds", "images_per_s"]
    first = df.iloc[0]
    return (df[cols].to_string(index=False, float_format=lambda v: f"{v:,.2f}")
            + f"\nGrad-CAM style {first['style']}, device {first.device}, threads {first.threads}; "
            "images/s = images explained per second at that layer (one forward and backward pass per batch)")


def _attacks_text(df: pd.DataFrame) -> str:
    total = df.groupby(["model", "variant"]).seconds.sum()
    return (df.to_string(index=False, float_format=lambda v: f"{v:,.2f}")
            + "\ntotal seconds per network: " + ", ".join(f"{m} {v}: {t:,.0f}" for (m, v), t in total.items()))


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import SEG_MODELS, format_bench, run_attack_bench, run_bench, run_gradcam_bench

    text: Callable[[pd.DataFrame], str] = format_bench
    if args.gradcam:
        n = 10_000 if args.images is None else args.images
        df = run_gradcam_bench(args.models or ["nin_light"], args.variants, images=n, style=args.style,
                               device=args.device)
        text = _gradcam_text
    elif args.attacks:
        n = 1000 if args.images is None else args.images
        df = run_attack_bench(args.models or ["lenetfc"], args.variants, images=n, repeats=args.repeats,
                              device=args.device)
        text = _attacks_text
    else:
        if args.segmentation:
            models, variants = list(args.models or SEG_MODELS), ["bu"]
        else:
            models, variants = args.models or ["lenetfc", "nin_light"], args.variants
        infer_batch = args.infer_batch or (args.train_batch if args.segmentation else 512)
        df = run_bench(models=models, variants=variants, modes=args.modes, device=args.device,
                       train_batch=args.train_batch, infer_batch=infer_batch, min_seconds=args.seconds,
                       optimized=not args.plain)
    if args.csv:
        df.to_csv(sys.stdout, index=False)
    else:
        print(text(df))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m tdlib``."""
    p = argparse.ArgumentParser(prog="python -m tdlib", description="Top-Down Networks companion")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="the book's chapters, their parameters and profiles")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("run", help="execute chapter notebooks with papermill")
    s.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter names (default: every notebook chapter)")
    s.add_argument("--profile", default=None, help="smoke, cpu or paper (default: each chapter's committed profile)")
    s.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a chapter parameter; values are Python literals or strings")
    s.add_argument("--recompute", action="store_true", help="ignore cached results")
    s.add_argument("--output-dir", type=Path, default=None, help="write executed notebooks here, not into book/")
    s.add_argument("--log", action="store_true", help="stream cell outputs")
    s.add_argument("--executor", default=None, choices=["local", "dask"],
                   help="first compute the missing cells of each chapter's grid, here (local) or on Dask (dask); "
                        "default: the notebook computes them")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="with --executor dask: a running scheduler (tcp://host:port or a scheduler file) instead "
                        "of a local cluster")
    s.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --executor dask: local worker processes (default: --gpus, else one per CPU core)")
    s.add_argument("--gpus", type=int, default=None, metavar="N",
                   help="with --executor dask: pin each worker to one of N GPUs (CUDA_VISIBLE_DEVICES) and give "
                        "each cell one GPU (resource GPU=1)")
    s.add_argument("--grid-only", action="store_true",
                   help="with --executor: compute the missing cells and stop, running no notebook (a machine "
                        "without Jupyter, or a background run that must leave the pages alone)")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("plan", help="runs, cached, missing and the estimated compute of each chapter's grid")
    s.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter names (default: every chapter with a grid)")
    s.add_argument("--profile", default=None, help="smoke, cpu or paper (default: each chapter's committed profile)")
    s.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="a chapter knob")
    s.add_argument("--gflops", type=float, default=None, metavar="G",
                   help="sustained GFLOP/s of the device that will compute the grid (default: measured here in "
                        "about a second on a NIN-light training step)")
    s.set_defaults(func=_cmd_plan)

    s = sub.add_parser("results",
                       help="what the results cache holds, what each profile lacks and the work in progress")
    s.add_argument("--chapter", default=None)
    s.set_defaults(func=_cmd_results)

    s = sub.add_parser("stop", help="ask the running trainings to checkpoint at their next batch and end")
    s.set_defaults(func=_cmd_stop)

    s = sub.add_parser("models", help="list the registered architectures")
    s.set_defaults(func=_cmd_models)

    s = sub.add_parser("params", help="Table 1: parameter counts, ours beside the paper's and the code's")
    s.add_argument("--csv", action="store_true", help="machine-readable rows")
    s.set_defaults(func=_cmd_params)

    s = sub.add_parser("bench", help="images/s and FLOP/s of BU and TD models")
    s.add_argument("--models", nargs="+", default=None, metavar="NAME",
                   help="default: lenetfc nin_light (with --attacks: lenetfc; with --gradcam: nin_light)")
    s.add_argument("--variants", nargs="+", default=["bu", "td"], choices=["bu", "td", "uni", "rev"])
    s.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    s.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    s.add_argument("--train-batch", type=int, default=128)
    s.add_argument("--infer-batch", type=int, default=None,
                   help="default 512; with --segmentation the training batch (128)")
    s.add_argument("--seconds", type=float, default=3.0, help="minimum measured time per row")
    s.add_argument("--plain", action="store_true", help="skip the speed levers (eager NCHW, BN unfused)")
    s.add_argument("--csv", action="store_true", help="machine-readable rows")
    s.add_argument("--segmentation", action="store_true",
                   help="the Exp. 3 segmentation networks (unet fcn td_seg, 56x56) instead; TD/BU ratios of td_seg "
                        "are against the U-net")
    s.add_argument("--attacks", action="store_true",
                   help="time the ten Exp. 2 attacks instead (default model lenetfc, the cpu-trained weights)")
    s.add_argument("--gradcam", action="store_true",
                   help="time Grad-CAM of every layer instead (default model nin_light, BU and TD, the cpu-trained "
                        "weights when cached, else untrained)")
    s.add_argument("--style", default="original", choices=["original", "paper"], help="with --gradcam: the style")
    s.add_argument("--images", type=int, default=None,
                   help="MNIST test images: attacked with --attacks (default 1,000), explained with --gradcam "
                        "(default 10,000)")
    s.add_argument("--repeats", type=int, default=3, help="with --attacks: runs of each random attack")
    s.set_defaults(func=_cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as e:  # bad names and shapes: a clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
