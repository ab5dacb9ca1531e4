#!/bin/bash
# FlowCron built-in function "relion-preprocess": import, motion correction, CTF.
#
# The three command lines are those RELION's GUI writes for an Import (movies),
# a Motion correction job with "Use RELION's own implementation" and a CTF
# estimation job with CTFFIND-4.1 (RELION's src/pipeline_jobs.cpp:
# getCommandsImportJob, getCommandsMotioncorrJob, getCommandsCtffindJob);
# the tutorial explains each option:
#   https://relion.readthedocs.io/en/latest/SPA_tutorial/Preprocessing.html
#   https://github.com/3dem/relion/blob/master/src/pipeline_jobs.cpp
#
# Values arrive as quoted assignments above and are read only as "$name".
# data/ is the RELION project directory.
set -euo pipefail

cd data
if [ -n "$module" ]; then
    # Module systems are not written for 'set -u'.
    set +u
    module load "$module"
    set -u
fi

import_dir="Import/$output/"
motion_dir="MotionCorr/$output/"
ctf_dir="CtfFind/$output/"
mkdir -p "$import_dir" "$motion_dir" "$ctf_dir"
threads=$((cpus / mpi))
if ((threads < 1)); then
    threads=1
fi
launcher=()
read -r -a launcher <<< "$mpirun_args"

# run_relion PROGRAM ARGS...: PROGRAM, or PROGRAM_mpi under the MPI launcher.
run_relion() {
    local program=$1
    shift
    if ((mpi > 1)); then
        "$mpirun" -n "$mpi" ${launcher[@]+"${launcher[@]}"} "${program}_mpi" "$@"
    else
        "$program" "$@"
    fi
}

echo "flowcron relion-preprocess: import"
# The pattern stays one quoted word: relion_import expands it itself.
relion_import --do_movies --optics_group_name "$optics_group" \
    --angpix "$angpix" --kV "$voltage" --Cs "$cs" --Q0 "$q0" \
    --beamtilt_x 0 --beamtilt_y 0 \
    --i "${movies#data/}" --odir "$import_dir" --ofile movies.star

echo "flowcron relion-preprocess: motion correction (RELION's own implementation)"
run_relion relion_run_motioncorr --i "${import_dir}movies.star" --o "$motion_dir" \
    --first_frame_sum 1 --last_frame_sum -1 --use_own --j "$threads" \
    --bin_factor "$bin_factor" --bfactor 150 --dose_per_frame "$dose_per_frame" \
    --preexposure 0 --patch_x "$patch_x" --patch_y "$patch_y" --eer_grouping 32 \
    --dose_weighting

echo "flowcron relion-preprocess: CTF estimation (CTFFIND-4.1)"
run_relion relion_run_ctffind --i "${motion_dir}corrected_micrographs.star" --o "$ctf_dir" \
    --Box 512 --ResMin "$res_min" --ResMax "$res_max" \
    --dFMin "$defocus_min" --dFMax "$defocus_max" --FStep 500 --dAst 100 \
    --ctffind_exe "$ctffind_exe" --ctfWin -1 --is_ctffind4 --fast_search
