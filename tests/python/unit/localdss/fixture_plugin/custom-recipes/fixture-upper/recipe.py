# A thin recipe as the plugin's own: read config, stream the input, write the output in chunks.
import os
import signal
import sys

import dataiku
from dataiku.customrecipe import (
    get_input_names_for_role,
    get_output_names_for_role,
    get_plugin_config,
    get_recipe_config,
    get_recipe_resource,
)
from fixture_lib import transform

config = get_recipe_config()
if config["fail_message"]:
    raise ValueError(config["fail_message"])

source = dataiku.Dataset(get_input_names_for_role("input")[0])
target = dataiku.Dataset(get_output_names_for_role("output")[0])
column = config["column"]
new_column = column + config["suffix"]
chunk_sizes = []
nulls = 0
print(f"recipe starts on {source.full_name}")
with target.get_writer() as writer:
    for index, df in enumerate(source.iter_dataframes(chunksize=int(config["chunk_size"]),
                                                       infer_with_pandas=config["infer"])):
        nulls += int(df[column].isna().sum())
        df[new_column] = transform(df[column], config["mode"])
        if index == 0:
            target.write_schema_from_dataframe(df)
        writer.write_dataframe(df)
        chunk_sizes.append(len(df))
        if config["kill_after_chunks"] and len(chunk_sizes) >= config["kill_after_chunks"]:
            os.kill(os.getpid(), signal.SIGKILL)

schema = target.read_schema()
for entry in schema:
    if entry["name"] == new_column:
        entry["comment"] = f"{column} in {config['mode']} case"
target.write_schema(schema)

stats = get_output_names_for_role("stats")
if stats:
    folder = dataiku.Folder(stats[0])
    try:
        import localdss  # noqa: F401
        localdss_importable = True
    except ImportError:
        localdss_importable = False
    folder.write_json("stats.json", {
        "chunk_sizes": chunk_sizes,
        "nulls": nulls,
        "config_types": {k: type(v).__name__ for k, v in config.items()},
        "config": config,
        "plugin_config": get_plugin_config(),
        "resource": get_recipe_resource(),
        "sys_path_0": sys.path[0],
        "localdss_importable": localdss_importable,
        "project_key": dataiku.default_project_key(),
        "input_full_name": source.full_name,
        "input_short_name": source.short_name,
        "variables": dataiku.get_custom_variables(),
        "flow_variables": dataiku.get_flow_variables(),
        "partitions": [source.read_partitions, target.writePartition],
    })
print("recipe done")
