package org.ddpm4j.checkpoint;

/** A checkpoint or weights file that cannot be read or written; the message names the file and the problem. */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
