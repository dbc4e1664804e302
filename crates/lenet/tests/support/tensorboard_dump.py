"""What TensorBoard's own reader finds in run folders, as JSON on stdout.

For each folder given: every scalar tag's points ([step, value], as TensorBoard's
EventAccumulator loads them, after its purge of points a restarted run had logged past its
restart) and the HParams plugin's summaries (session start and end) decoded with
TensorBoard's own protobuf classes. The tests compare them with what the runs recorded.
"""

import json
import sys

from google.protobuf import json_format
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

runs = {}
for folder in sys.argv[1:]:
    reader = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0})
    reader.Reload()
    scalars = {
        tag: [[point.step, point.value] for point in reader.Scalars(tag)]
        for tag in reader.Tags()["scalars"]
    }
    hparams = {
        tag: json_format.MessageToDict(plugin_data_pb2.HParamsPluginData.FromString(content))
        for tag, content in reader.PluginTagToContent("hparams").items()
    }
    runs[folder] = {"scalars": scalars, "hparams": hparams}
json.dump(runs, sys.stdout)
