package org.ddpm4j.data;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Cuts an {@link ImageSet} into shuffled batches, epoch after epoch, starting at
 * (epoch, batch index). A background thread prepares the next batches while the
 * current one trains. The order and flips depend only on (seed, epoch, position)
 * (see {@link DataOrder}); the last batch of an epoch holds the remainder
 * (no images dropped, like PyTorch's DataLoader with drop_last=False).
 */
public final class BatchLoader implements AutoCloseable {
    private static final Object END = new Object();

    private final ImageSet data;
    private final int batchSize;
    private final long seed;
    private final boolean flip;
    private final BlockingQueue<Object> queue;
    private final Thread worker;
    private volatile boolean closed;

    /**
     * @param prefetch batches prepared ahead (at least 1)
     */
    public BatchLoader(ImageSet data, int batchSize, long seed, boolean flip, int startEpoch, int startIndex, int prefetch) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (data.size() == 0) throw new DataException("no images to train on");
        int perEpoch = batchesPerEpoch(data.size(), batchSize);
        if (startEpoch < 0 || startIndex < 0 || startIndex > perEpoch) {
            throw new IllegalArgumentException("start position epoch " + startEpoch + " batch " + startIndex
                    + " is outside an epoch of " + perEpoch + " batches");
        }
        this.data = data;
        this.batchSize = batchSize;
        this.seed = seed;
        this.flip = flip;
        this.queue = new ArrayBlockingQueue<>(Math.max(1, prefetch));
        this.worker = new Thread(() -> produce(startEpoch, startIndex), "ddpm-batch-loader");
        this.worker.setDaemon(true);
        this.worker.start();
    }

    public static int batchesPerEpoch(int images, int batchSize) {
        return (images + batchSize - 1) / batchSize;
    }

    public int batchesPerEpoch() {
        return batchesPerEpoch(data.size(), batchSize);
    }

    /** Builds batch {@code index} of epoch {@code epoch} directly (no thread). */
    public static Batch make(ImageSet data, int batchSize, long seed, boolean flip, int epoch, int index, int[] order) {
        int first = index * batchSize;
        int n = Math.min(batchSize, data.size() - first);
        int per = data.imageSize();
        byte[] pixels = new byte[n * per];
        byte[] flips = flip ? new byte[n] : null;
        int[] labels = new int[n];
        for (int k = 0; k < n; k++) {
            data.copyImage(order[first + k], pixels, k * per);
            labels[k] = data.label(order[first + k]);
            if (flip) flips[k] = (byte) (DataOrder.flip(seed, epoch, first + k) ? 1 : 0);
        }
        return new Batch(epoch, index, n, pixels, flips, labels);
    }

    private void produce(int epoch, int index) {
        try {
            int perEpoch = batchesPerEpoch();
            if (index == perEpoch) {
                epoch++;
                index = 0;
            }
            while (!closed) {
                int[] order = DataOrder.permutation(data.size(), seed, epoch);
                for (; index < perEpoch && !closed; index++) {
                    queue.put(make(data, batchSize, seed, flip, epoch, index, order));
                }
                epoch++;
                index = 0;
            }
        } catch (InterruptedException e) {
            // closed
        } catch (RuntimeException | Error e) {
            queue.clear();
            queue.offer(e);
        } finally {
            queue.offer(END);
        }
    }

    /** The next batch (waits for the background thread). */
    public Batch next() {
        if (closed) throw new IllegalStateException("the batch loader is closed");
        Object o;
        try {
            o = queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a batch", e);
        }
        if (o instanceof Batch b) return b;
        if (o instanceof RuntimeException e) throw e;
        if (o instanceof Error e) throw e;
        throw new IllegalStateException("the batch loader stopped");
    }

    @Override
    public void close() {
        closed = true;
        worker.interrupt();
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
