"""Command line: `python -m companion --help` lists what it can do."""

from __future__ import annotations

import argparse
import json
import re
import sys

from .config import CourseError, PROFILES


def _models(args) -> None:
    from .models import describe_presets

    print(f"{'preset':<17}{'layers':>7}{'width':>7}{'heads':>7}{'vocab':>7}{'parameters':>12}")
    for row in describe_presets():
        print(f"{row['preset']:<17}{row['layers']:>7}{row['width']:>7}{row['heads']:>7}"
              f"{row['vocab']:>7}{row['parameters']:>12,}")


def _profile(args) -> None:
    from .config import load_profile

    load_profile(args.profile, model=args.model, data=args.data)


def _data(args) -> None:
    from .data import describe

    print(json.dumps(describe(args.source), indent=2))


def _profile_of(args):
    """The profile named by --profile, with every --section.field=value applied."""
    from .config import load_profile, override

    return override(load_profile(args.profile, model=args.model, data=args.data),
                    args.settings)


def _train(args) -> None:
    from .pipeline import run_stage

    run_stage(args.stage, profile=_profile_of(args), model_name=args.model,
              data=args.data, out=args.out, seed=args.seed, method=args.method,
              overwrite=args.overwrite)


def _pipeline(args) -> None:
    from .pipeline import run_pipeline

    run_pipeline(profile=_profile_of(args), model_name=args.model, data=args.data,
                 method=args.method, out=args.out, seed=args.seed,
                 oracle=not args.no_oracle)


def _evaluate(args) -> None:
    from .evaluate import evaluate_checkpoint

    evaluate_checkpoint(args.checkpoint, data=args.data, out=args.out, profile=args.profile)


def _course(args) -> None:
    from .course import run_course

    run_course(args.profile)


def _student(args) -> None:
    from .student import STUDENT_DIR, make_student_notebooks

    make_student_notebooks(args.out or STUDENT_DIR)


def _mark(args) -> None:
    from .assignment import mark_notebooks
    from .course import course_notebooks

    changed = mark_notebooks(course_notebooks())
    print(f"nbgrader metadata updated in {len(changed)} notebooks: "
          f"{', '.join(p.name for p in changed) or 'none changed'}")


def _grade(args) -> None:
    from .grade import grade_submissions

    grade_submissions(args.submissions, out=args.out, timeout=args.timeout,
                      profile=args.profile, jobs=args.jobs)


SETTINGS_HELP = ("settings: any profile field, nanoGPT-style: --unlearn.lr=1e-4 "
                 "--unlearn.stop_rule=held_out; a method's hyperparameters by method "
                 "name: --unlearn.params.npo.beta=0.05, "
                 "--unlearn.params.gradient_difference.retain_weight=2, "
                 "--unlearn.params.kl.kl_weight=0.5 (companion.methods). "
                 "COURSE_SETTINGS does the same for notebooks: "
                 "COURSE_SETTINGS=\"unlearn.lr=1e-4 seeds=0,1,2\"")


def _run_options(parser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="run size (default: $COURSE_PROFILE, else auto)")
    parser.add_argument("--model", default=None, help="preset, hub name or folder "
                        "(default: $COURSE_MODEL, else the profile's)")
    parser.add_argument("--data", default=None, help="bundled, a folder or a hub id "
                        "(default: $COURSE_DATA, else the profile's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="output folder (default: runs/<profile>/<model>)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m companion`."""
    parser = argparse.ArgumentParser(
        prog="python -m companion",
        description="Sequential unlearning course: data, training, evaluation, notebooks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("profile", help="print the profile that would be used, and why")
    p.add_argument("--profile", choices=PROFILES, default=None)
    p.add_argument("--model", default=None, help="preset, hub name or folder "
                   "(default: $COURSE_MODEL, else the profile's)")
    p.add_argument("--data", default=None, help="bundled, a folder or a hub id "
                   "(default: $COURSE_DATA, else the profile's)")
    p.set_defaults(func=_profile)

    sub.add_parser("models", help="list the offline model presets").set_defaults(func=_models)

    p = sub.add_parser("data", help="row counts of a data source, as JSON")
    p.add_argument("source", help="bundled, a folder of SemEval files, or a hub id")
    p.set_defaults(func=_data)

    p = sub.add_parser("train", help="run one stage from the previous stage's checkpoint",
                       epilog=SETTINGS_HELP)
    p.add_argument("stage", help="a stage of companion.stages: baseline, oracle, "
                   "stabilised, sequential, a method, control or variant name, "
                   "request-k, or unlearn (with --method)")
    _run_options(p)
    p.add_argument("--method", default=None, help="unlearning method (default: sequential)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing stage")
    p.set_defaults(func=_train)

    p = sub.add_parser("pipeline", help="baseline, stabilise, unlearn and evaluate",
                       epilog=SETTINGS_HELP)
    _run_options(p)
    p.add_argument("--method", default="sequential",
                   help="the unlearning stage: sequential, a comparison method "
                        "(gradient_ascent, gradient_difference, kl, npo), a control or "
                        "a variant (companion.stages)")
    p.add_argument("--no-oracle", action="store_true",
                   help="skip the oracle (exact unlearning); the reports then say "
                        "why the oracle-relative terms are missing")
    p.set_defaults(func=_pipeline)

    p = sub.add_parser("evaluate", help="score a checkpoint the official SemEval way")
    p.add_argument("checkpoint", help="a folder saved by the course")
    p.add_argument("--data", default=None,
                   help="bundled, a folder or a hub id (default: the profile's data)")
    p.add_argument("--out", required=True, help="folder for report.json and generations")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="sizes of the evaluation (default: $COURSE_PROFILE, else auto)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("course", help="execute every notebook in order, headless")
    p.add_argument("--profile", choices=PROFILES[:3], default="offline")
    p.set_defaults(func=_course)

    p = sub.add_parser("student", help="write student notebooks (solutions removed)")
    p.add_argument("--out", default=None, help="folder (default: student/)")
    p.set_defaults(func=_student)

    sub.add_parser("mark-exercises", help="write nbgrader metadata from the cell tags "
                   "into the course notebooks").set_defaults(func=_mark)

    p = sub.add_parser("grade", help="grade submitted notebooks with the instructor's "
                       "checks; writes gradebook.csv and gradebook.md")
    p.add_argument("submissions", help="a folder with one folder (or notebook) per "
                   "student")
    p.add_argument("--out", default=None, help="folder for the gradebook "
                   "(default: <submissions>/gradebook)")
    p.add_argument("--timeout", type=int, default=600,
                   help="seconds one notebook of one student may run")
    p.add_argument("--profile", choices=PROFILES[:3], default="smoke")
    p.add_argument("--jobs", type=int, default=1,
                   help="students graded at once (each runs one kernel at a time)")
    p.set_defaults(func=_grade)
    return parser


SETTING = re.compile(r"--(\w+(?:\.\w+)*)=(.*)")  # --unlearn.lr=1e-4


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it; a CourseError becomes one line on stderr.

    `train` and `pipeline` also take settings nanoGPT-style, `--unlearn.lr=1e-4
    --unlearn.stop_rule=held_out`: any field of the profile (config.override),
    and a method's hyperparameters by its name, `--unlearn.params.npo.beta=0.05`.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    settings = [SETTING.fullmatch(a) for a in extra]
    if not all(settings) or (extra and args.command not in ("train", "pipeline")):
        parser.error(f"unrecognized arguments: {' '.join(extra)} (settings look like "
                     "--unlearn.lr=1e-4, after train or pipeline)")
    args.settings = [f"{m[1]}={m[2]}" for m in settings]
    try:
        args.func(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
