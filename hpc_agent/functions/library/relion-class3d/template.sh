#!/bin/bash
# FlowCron built-in function "relion-class3d": RELION 3D classification.
#
# The relion_refine command line is the one RELION's GUI writes for a
# "3D classification" job (RELION's src/pipeline_jobs.cpp, getCommandsClass3DJob;
# the options are explained in the tutorial):
#   https://relion.readthedocs.io/en/latest/SPA_tutorial/Class3D.html
#   https://github.com/3dem/relion/blob/master/src/pipeline_jobs.cpp
# MPI runs use relion_refine_mpi under the site's MPI launcher ("mpirun -n N"),
# as RELION's job submission templates do:
#   https://relion.readthedocs.io/en/latest/Installation.html
#
# Values arrive as quoted assignments above and are read only as "$name".
# data/ is the RELION project directory: relative paths in the STAR files
# are relative to it.
set -euo pipefail

cd data
if [ -n "$module" ]; then
    # Module systems are not written for 'set -u'.
    set +u
    module load "$module"
    set -u
fi

out="Class3D/$output"
mkdir -p "$out"
threads=$((cpus / mpi))
if ((threads < 1)); then
    threads=1
fi

refine=(
    --o "$out/run"
    --i "${particles#data/}"
    --ref "${reference#data/}"
    --ini_high "$ini_high"
    --dont_combine_weights_via_disc
    --pool 3
    --pad 2
    --iter "$iterations"
    --tau2_fudge "$tau2_fudge"
    --particle_diameter "$particle_diameter"
    --K "$classes"
    --flatten_solvent
    --zero_mask
    --oversampling 1
    --healpix_order 2
    --offset_range 5
    --offset_step 2
    --sym "$symmetry"
    --norm
    --scale
    --j "$threads"
)
if [ "$ctf" = true ]; then
    refine+=(--ctf)
fi
if [ "$absolute_greyscale" = false ]; then
    refine+=(--firstiter_cc)
fi
if ((gpus > 0)); then
    # An empty id list: RELION shares the job's visible GPUs among its ranks.
    refine+=(--gpu "")
fi

echo "flowcron relion-class3d: $classes classes, $mpi rank(s) x $threads thread(s), $gpus GPU(s)"
if ((mpi > 1)); then
    launcher=()
    read -r -a launcher <<< "$mpirun_args"
    "$mpirun" -n "$mpi" ${launcher[@]+"${launcher[@]}"} relion_refine_mpi "${refine[@]}"
else
    relion_refine "${refine[@]}"
fi
