"""Rich media, as W&B's "Log media and objects" page and its data-type reference show them:
audio from a numpy array, a video of frames, HTML from a string and a file, point clouds from
an array and from the "lidar/beta" dict, a molecule file, a plotly figure, and an image with
segmentation masks and bounding boxes, logged alone and in a table."""
import numpy as np
import plotly.graph_objects as go
import wandb

run = wandb.init(project="media")

# Audio: a numpy array needs its sample rate
wandb.log({"examples": [wandb.Audio(np.random.uniform(-1, 1, 16000), caption="noise", sample_rate=16000)]})

# Video: axes are (time, channel, height, width)
frames = np.random.randint(low=0, high=256, size=(10, 3, 100, 100), dtype=np.uint8)
wandb.log({"video": wandb.Video(frames, fps=4)})

# Html: a string of HTML, or the path of a file
with open("some.html", "w") as f:
    f.write("<h1>Hello from a file</h1>")
wandb.log({"custom_string": wandb.Html('<a href="https://mysite">Link</a>')})
wandb.log({"custom_file": wandb.Html(open("some.html")), "no_style": wandb.Html(open("some.html"), inject=False)})

# Object3D: a point cloud as a numpy array, then as a scene with boxes and vectors
point_cloud = np.random.uniform(-1, 1, size=(200, 6))
point_cloud[:, 3:] = 255
wandb.log({"point_cloud": wandb.Object3D(point_cloud)})
point_scene = wandb.Object3D({
    "type": "lidar/beta",
    "points": np.array([[0.4, 1, 1.3], [1, 1, 1], [1.2, 1, 1.2]]),
    "boxes": np.array([{"corners": [[0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1],
                                    [1, 1, 1]], "label": "Box", "color": [123, 321, 111]}]),
    "vectors": np.array([{"start": [0, 0, 0], "end": [0.1, 0.2, 0.5]}]),
})
wandb.log({"point_scene": point_scene})

# Molecule: a file in one of the supported formats
with open("water.pdb", "w") as f:
    f.write("HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\nEND\n")
wandb.log({"protein": wandb.Molecule("water.pdb")})

# Plotly
fig = go.Figure(data=go.Scatter(x=[1, 2, 3], y=[4, 1, 2]))
wandb.log({"chart": wandb.Plotly(fig)})

# Image masks (ImageMask's example) and boxes (BoundingBoxes2D's example)
image = np.random.randint(low=0, high=256, size=(100, 100, 3), dtype=np.uint8)
predicted_mask = np.empty((100, 100), dtype=np.uint8)
ground_truth_mask = np.empty((100, 100), dtype=np.uint8)
predicted_mask[:50, :50] = 0
predicted_mask[50:, :50] = 1
predicted_mask[:50, 50:] = 2
predicted_mask[50:, 50:] = 3
ground_truth_mask[:25, :25] = 0
ground_truth_mask[25:, :25] = 1
ground_truth_mask[:25, 25:] = 2
ground_truth_mask[25:, 25:] = 3
class_labels = {0: "person", 1: "tree", 2: "car", 3: "road"}
masked_image = wandb.Image(image, masks={
    "predictions": {"mask_data": predicted_mask, "class_labels": class_labels},
    "ground_truth": {"mask_data": ground_truth_mask, "class_labels": class_labels},
})
run.log({"img_with_masks": masked_image})

class_id_to_label = {1: "car", 2: "road", 3: "building"}
img = wandb.Image(image, boxes={
    "predictions": {
        "box_data": [
            {"position": {"minX": 0.1, "maxX": 0.2, "minY": 0.3, "maxY": 0.4}, "class_id": 2,
             "box_caption": class_id_to_label[2], "scores": {"acc": 0.1, "loss": 1.2}},
            {"position": {"middle": [50, 20], "width": 30, "height": 40}, "domain": "pixel", "class_id": 3,
             "box_caption": "a building", "scores": {"acc": 0.5, "loss": 0.7}},
        ],
        "class_labels": class_id_to_label,
    },
})
wandb.log({"driving_scene": img})

# A masked image and an audio clip in a table
table = wandb.Table(columns=["id", "image", "sound"])
table.add_data(0, masked_image, wandb.Audio(np.zeros(800), sample_rate=8000))
run.log({"predictions_table": table})
wandb.finish()
