package org.ddpm4j.data;

/**
 * Images loaded for a run.
 *
 * @param images the images, filtered
 * @param spec the request, with the CIFAR-10 folder that was actually used filled in
 */
public record LoadedData(ImageSet images, DataSpec spec) {}
