package org.ddpm4j.data;

/**
 * One training batch.
 *
 * @param epoch 0-based epoch
 * @param index 0-based batch within the epoch
 * @param size images in the batch (the last batch of an epoch may be smaller)
 * @param pixels size * C*H*W uint8 values, (C, H, W) per image
 * @param flips size bytes, 1 = mirror horizontally; null when flipping is off
 * @param labels size class labels (for class-conditional training)
 */
public record Batch(int epoch, int index, int size, byte[] pixels, byte[] flips, int[] labels) {}
