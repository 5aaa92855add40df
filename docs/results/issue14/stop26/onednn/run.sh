#!/usr/bin/env bash
# oneDNN on vs off for the CNN's roofline (goal 4): the efficiency app in alternating processes,
# TF_ENABLE_ONEDNN_OPTS=1 then 0, four pairs. The ratio to TF's MatMul is measured inside each process.
set -u
for i in 1 2 3 4; do
  for flag in 1 0; do
    TF_ENABLE_ONEDNN_OPTS=$flag TF_CPP_MIN_LOG_LEVEL=3 tfshare-bench efficiency --model=cnn --batch_size=256 \
      --thread_counts=0 --matmul_size=1024 --repeats=9 --train_rows=1280 --output=onednn${flag}_run$i.json > onednn${flag}_run$i.log 2>&1
  done
done
