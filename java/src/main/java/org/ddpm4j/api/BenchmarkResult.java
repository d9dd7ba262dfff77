package org.ddpm4j.api;

import org.ddpm4j.model.UNetConfig;

/**
 * What {@link Trainer#benchmark} (and {@code ddpm bench}) measures: training steps and sampling steps
 * (one reverse step: the eval forward pass and the update) per second after warm-up.
 *
 * @param backend "cpu" or "cuda"
 * @param device the device's name
 * @param precision the numerics it computed with: fp32, tf32 or bf16
 * @param threads CPU worker threads (1 for CUDA)
 * @param batch images per step
 * @param config the model
 * @param trainImagesPerSecond images per second through the training step
 * @param forwardImagesPerSecond images per second through the sampling step
 * @param peakMemoryBytes device memory the model held
 */
public record BenchmarkResult(String backend, String device, String precision, int threads, int batch, UNetConfig config,
                              double trainImagesPerSecond, double forwardImagesPerSecond, long peakMemoryBytes) {}
