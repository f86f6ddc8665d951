"""Typical wrong answers of notebook 03's exercises (serving); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

_SCORER_INIT = '''
class IrisCsvScorer(tf.Module):
    def __init__(self, model, mean, std):
        super().__init__()
        self.model = model
        self.mean = tf.constant(mean, tf.float32)
        self.std = tf.constant(std, tf.float32)
        self.defaults = [[float(m)] for m in mean]
'''

_SERVE_OK = '''
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="lines")])
    def serve(self, lines):
        columns = tf.io.decode_csv(lines, record_defaults=self.defaults)
        x = (tf.stack(columns, axis=1) - self.mean) / self.std
        return {"probabilities": self.model(x)}
'''

_EXPORT_OK = '''

def export_scorer(scorer, base_path, version):
    path = os.path.join(str(base_path), str(version))
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", scorer.serve)
    archive.write_out(path, verbose=False)
    return path
'''

_CLIENT_HEAD = '''
import base64


def predict_pngs(host, model, images):
    url = f"http://{host}/v1/models/{model}:predict"
'''

WRONG: dict[str, list[Wrong]] = {
    "03_ex1": [Wrong('''
def labelled_predict(host, model, label, rows):
    return f"http://{host}/v1/models/{model}/labels/{label}:predict", {"inputs": rows}
''', r"put the rows under 'instances' \(labelled_predict\(", why="the columnar key")],
    "03_ex2": [
        Wrong(_SCORER_INIT + '''
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="lines")])
    def serve(self, lines):
        columns = tf.io.decode_csv(lines, record_defaults=self.defaults)
        return {"probabilities": self.model(tf.stack(columns, axis=1))}
''' + _EXPORT_OK, r"on complete lines serve differs from the model on \(x - mean\) / std",
              why="the raw measurements reach the model: no standardisation in the graph"),
        Wrong(_SCORER_INIT + '''
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="lines")])
    def serve(self, lines):
        x = tf.strings.to_number(tf.strings.split(lines, ",").to_tensor())
        return {"probabilities": self.model((x - self.mean) / self.std)}
''' + _EXPORT_OK, r"serve raised InvalidArgumentError: StringToNumberOp.*on lines with an empty field",
              why="tf.strings.to_number cannot parse an empty field"),
        Wrong(_SCORER_INIT + _SERVE_OK + '''

def export_scorer(scorer, base_path, version):
    tf.saved_model.save(scorer, str(base_path), signatures={"serving_default": scorer.serve})
    return str(base_path)
''', r"must write the SavedModel into <base_path>/5/ \(the server reads only numbered sub-folders\)",
              why="saved into the base path itself, without a version folder"),
        Wrong(_SCORER_INIT + _SERVE_OK + '''

def export_scorer(scorer, base_path, version):
    path = os.path.join(str(base_path), str(version))
    tf.saved_model.save(scorer, path, signatures={"serving_default": scorer.serve})
    return path
''', r"the export leaves the variables .* uninitialized: tensorflow_model_server would answer every request "
              r"with FAILED_PRECONDITION",
              why="tf.saved_model.save on a tf.Module that holds a Keras 3 model: TF Serving cannot restore it"),
        Wrong(_SCORER_INIT + '''
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="csv")])
    def serve(self, csv):
        columns = tf.io.decode_csv(csv, record_defaults=self.defaults)
        x = (tf.stack(columns, axis=1) - self.mean) / self.std
        return {"probabilities": self.model(x)}
''' + _EXPORT_OK, r"serving_default takes \['csv'\] .*name the input 'lines'",
              why="the signature's input has another name, which REST clients that name it would miss"),
    ],
    "03_ex3": [
        Wrong(_CLIENT_HEAD + '''
    instances = [base64.b64encode(tf.io.encode_png(image[..., None]).numpy()).decode("ascii") for image in images]
    reply = http.post(url, json={"instances": instances}, timeout=30)
    reply.raise_for_status()
    predictions = reply.json()["predictions"]
    return [p["digit"] for p in predictions], np.array([p["probabilities"] for p in predictions])
''', r"predict_pngs raised HTTPError.*the server said .*Unknown image file format",
              why="base64 text sent as a plain string, without the {'b64': ...} object: the model gets the text"),
        Wrong(_CLIENT_HEAD + '''
    digits, probabilities = [], []
    for image in images:
        png = tf.io.encode_png(image[..., None]).numpy()
        reply = http.post(url, json={"instances": [{"b64": base64.b64encode(png).decode("ascii")}]}, timeout=30)
        reply.raise_for_status()
        p = reply.json()["predictions"][0]
        digits.append(p["digit"])
        probabilities.append(p["probabilities"])
    return digits, np.array(probabilities)
''', r"the server counted 5 requests for 5 images: send them all in one request",
              why="one request per image instead of one batch"),
        Wrong(_CLIENT_HEAD + '''
    instances = [{"b64": base64.b64encode(tf.io.encode_png(image[..., None]).numpy()).decode("ascii")}
                 for image in images]
    reply = http.post(url, json={"instances": instances}, timeout=30)
    reply.raise_for_status()
    predictions = reply.json()["predictions"]
    return [p["digit"] for p in predictions], predictions
''', r"probabilities must be numbers: each prediction is a dict",
              why="the reply read as if the model had one output: with two, each prediction is a dict"),
    ],
}
