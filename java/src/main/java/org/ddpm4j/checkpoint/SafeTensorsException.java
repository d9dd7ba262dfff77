package org.ddpm4j.checkpoint;

/** A safetensors file that breaks the format; the message names the file, the tensor or field, and what was expected. */
public class SafeTensorsException extends CheckpointException {
    public SafeTensorsException(String message) {
        super(message);
    }
}
