# A training container: the labbook image plus Keras 3 on a CPU build of torch and the examples.
# docker compose --profile train run train   (logs in from LABBOOK_API_KEY in .env, then trains)
FROM labbook:latest
USER root
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
    && pip install "keras>=3.5" "scikit-learn>=1.4"
COPY examples /home/labbook/examples
USER labbook
WORKDIR /home/labbook
ENV KERAS_BACKEND=torch
CMD ["python", "examples/digits_cnn_keras.py"]
