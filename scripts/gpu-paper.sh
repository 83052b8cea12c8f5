#!/usr/bin/env bash
# Fill paper-profile grids on a lent GPU machine: the one prepared script of a session that
# draws a GPU (the `device` tool of this workplace; any machine with python3, PyTorch, numpy,
# pandas and tqdm will do: the grids need no Jupyter, see `python -m tdlib run --grid-only`).
#
# The tree that travels to such a machine is limited (64 MiB), and the committed results cache
# alone is ~46 MB, so the session stages a slim tree first and restores it after:
#
#   here:  scripts/gpu-paper.sh stage segmentation          # keeps data/results/segmentation,
#                                                           # sets the rest aside, copies the data
#   there: bash scripts/gpu-paper.sh run segmentation -p repeats=4   (carry .gpu; $OUT set there)
#   here:  scripts/gpu-paper.sh unstage [results.tar.gz]    # restores the cache, adds what came back
#
# `stage CHAPTER...` keeps those chapters' cached results (the device skips what they hold; a
# chapter whose cells need another's weights, gradcam on bu-vs-td, names both), moves every other
# chapter's folder to .gpu-aside/ (ignored, so it does not travel; nothing may write to
# data/results meanwhile), copies the datasets named in $GPU_DATASETS (default FashionMNIST, the
# segmentation meshes' source; also MNIST, cifar10) from the offline mirror into .gpu/data, and
# writes the code's revision to .gpu/REVISION so that the results there name it.
#
# `run CHAPTER... [-p key=value ...]` computes the missing cells of the chapters' grids at
# $PROFILE (default paper) for $LIMIT seconds (default 480, inside the tool's 600): then it asks
# the run to stop (`python -m tdlib stop`: the running training saves its checkpoint at its next
# batch, so nothing is lost) and, should it not end within $GRACE more seconds (default 30),
# interrupts it. Then it packs every result written meanwhile (entries, and the checkpoint of a
# run cut short, which resumes here or on the next GPU) into $OUT/results.tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}; shift || true
# stage and unstage work on the committed cache, the one that travels; run fills $TDLIB_RESULTS
# where that is set (as tdlib does)
case "$mode" in run) results=${TDLIB_RESULTS:-data/results} ;; *) results=data/results ;; esac

case "$mode" in
stage)
  [ $# -gt 0 ] || { echo "usage: $0 stage CHAPTER... (the chapters whose cached results travel)" >&2; exit 2; }
  [ ! -e .gpu-aside ] || { echo ".gpu-aside exists: unstage first" >&2; exit 1; }
  exclude=$(git rev-parse --git-path info/exclude)  # also right in a worktree, whose .git is a file
  mkdir -p "$(dirname "$exclude")"
  for f in /.gpu/ /.gpu-aside/; do grep -qxF "$f" "$exclude" 2>/dev/null || echo "$f" >> "$exclude"; done
  mirror=${TDLIB_DATA_MIRROR:-../shared/data}
  for ds in ${GPU_DATASETS:-FashionMNIST}; do  # checked before anything moves
    [ -d "$mirror/$ds" ] || { echo "no $ds in the mirror $mirror (set TDLIB_DATA_MIRROR)" >&2; exit 1; }
  done
  mkdir -p .gpu/data .gpu-aside
  for ds in ${GPU_DATASETS:-FashionMNIST}; do
    cp -r "$mirror/$ds" .gpu/data/ && chmod -R u+w ".gpu/data/$ds"
  done
  for dir in "$results"/*/; do
    name=$(basename "$dir")
    [[ " $* " == *" $name "* ]] || mv "$dir" .gpu-aside/
  done
  git rev-parse --short=12 HEAD > .gpu/REVISION
  tracked=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null || true) \
    | tail -1 | cut -f1)  # the files set aside are missing: du skips them
  carried=$(du -sb .gpu | cut -f1)
  echo "staged at $(cat .gpu/REVISION): tree $((tracked / 1048576)) MiB + .gpu $((carried / 1048576)) MiB travel" \
       "(limit 64 MiB); call the device with carry ['.gpu']"
  ;;
run)
  [ $# -gt 0 ] || { echo "usage: $0 run CHAPTER... [-p key=value ...]" >&2; exit 2; }
  : "${OUT:?set OUT to the folder whose files come back}"
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
  if [ -d .gpu/data ]; then export TDLIB_DATA_MIRROR=$PWD/.gpu/data; fi
  if [ -f .gpu/REVISION ]; then export TDLIB_REVISION=$(cat .gpu/REVISION); fi
  export TDLIB_DATA=${TDLIB_DATA:-/tmp/tdlib-data}
  start=$(mktemp); sleep 1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
  code=0
  # the stop request at the limit; no pipe of ours stays open in it (a caller reading our output would wait)
  (sleep "${LIMIT:-480}" && python3 -m tdlib stop) > /dev/null 2>&1 & stopper=$!
  timeout --signal=INT $(( ${LIMIT:-480} + ${GRACE:-30} )) python3 -m tdlib run "$@" --profile "${PROFILE:-paper}" \
    --executor local --grid-only || code=$?
  { pkill -P "$stopper"; kill "$stopper"; } 2> /dev/null || true  # its sleep first, then itself
  rm -f "$results/STOP"  # the request was for this run alone
  case "$code" in
  0) ;;
  3) echo "stopped at the time limit: the running training saved its checkpoint (packed; the next run resumes it)" ;;
  124) echo "interrupted $((${GRACE:-30})) s after the stop request (its last checkpoint and the cached cells stay)" ;;
  *) echo "the grid stopped with exit status $code (its cached cells stay)" ;;
  esac
  mkdir -p "$OUT" && pack=$(realpath "$OUT")/results.tar.gz
  (cd "$results" && find . -type f -newer "$start" \( -name '*.json' -o -name '*.ckpt' -o -name '*.pt' \
    -o -name '*.csv' \) -print0 | tar czf "$pack" --null -T -)  # paths relative to the results root
  echo "packed $(tar tzf "$pack" | wc -l) files into \$OUT/results.tar.gz: $(tar tzf "$pack" | tr '\n' ' ')"
  python3 -m tdlib results | sed -n '1,2p;/ paper /p;/in progress/,$p'
  exit "$code"
  ;;
unstage)
  [ -d .gpu-aside ] || { echo "nothing staged (.gpu-aside missing)" >&2; exit 1; }
  for dir in .gpu-aside/*/; do
    [ -d "$dir" ] || continue
    [ ! -e "$results/$(basename "$dir")" ] || { echo "$results/$(basename "$dir") exists; not overwritten" >&2; exit 1; }
    mv "$dir" "$results/"
  done
  rmdir .gpu-aside && rm -rf .gpu
  if [ -n "${1:-}" ]; then tar xzf "$1" -C "$results" && echo "added $(tar tzf "$1" | wc -l) files from $1"; fi
  git status --short -- "$results" | head -20
  ;;
*)
  echo "usage: $0 stage CHAPTER... | run CHAPTER... [-p key=value ...] | unstage [results.tar.gz]" >&2
  exit 2
  ;;
esac
