#!/bin/bash
# FlowCron built-in function "aretomo": AreTomo2 alignment and reconstruction.
#
# Options as AreTomo2 documents them (its --help text, CInput.cpp):
#   https://github.com/czimaginginstitute/AreTomo2
#   https://github.com/czimaginginstitute/AreTomo2/blob/main/CInput.cpp
#
# Values arrive as quoted assignments above and are read only as "$name".
set -euo pipefail

cd data
if [ -n "$module" ]; then
    # Module systems are not written for 'set -u'.
    set +u
    module load "$module"
    set -u
fi
if command -v nvidia-smi > /dev/null 2>&1; then
    nvidia-smi -L
fi

mkdir -p AreTomo
stack_name="${tilt_series##*/}"
out="AreTomo/${stack_name%.*}_rec.mrc"
wbp_flag=0
if [ "$wbp" = true ]; then
    wbp_flag=1
fi
# Slurm numbers the job's own GPUs from 0 (CUDA_VISIBLE_DEVICES).
gpu_ids=()
for ((id = 0; id < gpus; id++)); do
    gpu_ids+=("$id")
done

echo "flowcron aretomo: ${tilt_series#data/} -> $out on ${#gpu_ids[@]} GPU(s)"
# './' keeps a file name starting with '-' from being read as an option.
"$aretomo" -InMrc "./${tilt_series#data/}" -OutMrc "$out" \
    -AngFile "./${angles#data/}" \
    -VolZ "$vol_z" -OutBin "$out_bin" -AlignZ "$align_z" -TiltCor "$tilt_cor" \
    -PixSize "$pixel_size" -Kv "$kv" -Wbp "$wbp_flag" -OutImod "$out_imod" \
    -Gpu "${gpu_ids[@]}"
