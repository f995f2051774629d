"""edge: the on-device agent (polling, features, int8 forecasts, MQTT).

Never imports TensorFlow: the model runs on ai-edge-litert, or tflite-runtime
on 32-bit Raspberry Pis.
"""
