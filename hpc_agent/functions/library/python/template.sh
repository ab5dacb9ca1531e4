#!/bin/bash
# FlowCron built-in function "python": a script from data/, run inside data/.
# Values arrive as quoted assignments above; this template only reads them as
# "$name". Site settings are names and paths, never code.
set -euo pipefail

cd data
if [ -n "$module" ]; then
    # Module systems are not written for 'set -u'.
    set +u
    module load "$module"
    set -u
fi
if [ -n "$conda_env" ]; then
    export PATH="$conda_env/bin:$PATH" CONDA_PREFIX="$conda_env"
fi
if [ -n "$venv" ]; then
    export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
fi
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-$cpus}"

# args: split at spaces only (read -a does no globbing, quoting or expansion).
words=()
read -r -a words <<< "$args"
# './' keeps a script named '-x.py' from being read as an option.
echo "flowcron python: $python ./${script#data/} (${#words[@]} arguments)"
exec "$python" "./${script#data/}" ${words[@]+"${words[@]}"}
