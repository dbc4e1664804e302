# Sourced by the scripts beside it: PyTorch in experiments/bench/.venv, created on first use
# (pip install torch numpy); never part of the build or of the tests.
venv=experiments/bench/.venv
if [ ! -x "$venv/bin/python" ]; then
    echo "installing PyTorch into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch numpy
fi
