# Sourced by the scripts beside it: PyTorch in experiments/bench/.venv, created on first use
# (pip install torch numpy safetensors); never part of the build or of the tests.
venv=experiments/bench/.venv
if [ ! -x "$venv/bin/python" ]; then
    echo "installing PyTorch into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch numpy safetensors
fi
# safetensors came later (experiments/pytorch/step_equality.py): add it to older venvs.
"$venv/bin/python" -c "import safetensors" 2>/dev/null || "$venv/bin/pip" install -q safetensors
