#!/usr/bin/env bash
# Every tiny recipe through every command on a GPU, in short runs: train, eval, surprise, fit-predictor, collect,
# plan, bench. Prints one ok / FAIL line per command; logs go to $OUT (default: a temporary folder).
# Usage on a CUDA machine with the package importable: bash benchmarks/cuda_smoke.sh
set -u
OUT=${OUT:-$(mktemp -d)}
W=$(mktemp -d)
o() { python3 -m openjepa "$@"; }
chk() {
  local name=$1; shift; local t=$SECONDS
  if "$@" > "$OUT/$name.log" 2>&1; then echo "ok   $name ($((SECONDS - t)) s)"; else echo "FAIL $name"; tail -5 "$OUT/$name.log"; fi
}
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" || exit 1
for r in ijepa_tiny ijepa_sigreg_tiny lejepa_tiny vjepa_tiny vjepa2_tiny vjepa21_tiny; do
  chk "train_$r" o train $r --out "$W/$r" --steps 30 --quiet
done
for r in ijepa_tiny lejepa_tiny; do chk "eval_$r" o eval "$W/$r"; done
for r in vjepa_tiny vjepa2_tiny vjepa21_tiny; do
  chk "eval_$r" o eval "$W/$r" eval.attentive_epochs=2 eval.max_train=500
  chk "surprise_$r" o surprise "$W/$r" --out "$W/$r.surprise.json" --quadruplets 20
  chk "fit_$r" o fit-predictor "$W/$r" --out "$W/${r}_fit" --steps 50
done
chk eval_step_vjepa2 o eval "$W/vjepa2_tiny" eval.attentive_epochs=2 eval.max_train=500 eval.tokens=step --out "$W/x.json"
chk collect o collect tworoom --episodes 30 --max-steps 60 --policy noisy_expert,random --out "$W/tr" --quiet
chk train_lewm o train lewm_tworoom_tiny --data "$W/tr" --out "$W/lewm" --steps 30 --quiet
chk plan_lewm o plan "$W/lewm" --episodes 2 --quiet
chk train_ac o train vjepa2ac_tworoom_tiny --data "$W/tr" --encoder "$W/lewm" --out "$W/ac" --steps 30 --quiet
chk plan_ac o plan "$W/ac" --episodes 2 --quiet
chk eval_lewm o eval "$W/lewm"
chk eval_ac o eval "$W/ac"
chk bench_video o bench --video --sizes tiny --steps 3
chk bench_world o bench --world --steps 3
echo "logs: $OUT"
