package org.ddpm4j.data;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.TreeSet;

/**
 * Images a program hands over (pictures or uint8 arrays, with a class name each) as an
 * {@link ImageSet} at a model's shape. Pictures are read at their stored pixel values exactly as
 * an image folder's files are ({@link ImageFolderReader}); the classes are the distinct names in
 * name order, as an image folder's subfolders.
 */
public final class MemoryImages {
    private MemoryImages() {}

    /**
     * @param classNames one name per image
     * @param resize what to do with pictures that are not the model's size ({@link Resize#NONE}: refuse them, by index)
     */
    public static ImageSet ofPictures(List<BufferedImage> images, List<String> classNames, int channels, int height,
                                      int width, Resize resize) {
        if (channels != 1 && channels != 3) throw new DataException("pictures need a model with 1 or 3 channels, not " + channels);
        List<String> names = classes(images.size(), classNames);
        int per = channels * height * width;
        byte[] pixels = new byte[checkedSize(per, images.size())];
        for (int i = 0; i < images.size(); i++) {
            BufferedImage img = images.get(i);
            if (img == null) throw new DataException("picture " + i + " is null");
            int w = img.getWidth(), h = img.getHeight();
            int[] rgb = ImageFolderReader.rgbPixels(img);
            if (w != width || h != height) {
                if (resize == Resize.NONE) {
                    throw new DataException("picture " + i + " is " + w + "x" + h + ", the model needs " + width + "x" + height
                            + " (resize(Resize.CROP) or resize(Resize.STRETCH) scales pictures)");
                }
                rgb = resize.apply(rgb, w, h, width, height);
            }
            ImageFolderReader.toChw(rgb, channels, pixels, i * per);
        }
        return new ImageSet(pixels, labels(classNames, names), names, channels, height, width);
    }

    /**
     * @param arrays images of channels x height x width bytes each, channel-major (C, H, W)
     * @param classNames one name per image
     */
    public static ImageSet ofArrays(List<byte[]> arrays, List<String> classNames, int channels, int height, int width) {
        List<String> names = classes(arrays.size(), classNames);
        int per = channels * height * width;
        byte[] pixels = new byte[checkedSize(per, arrays.size())];
        for (int i = 0; i < arrays.size(); i++) {
            byte[] a = arrays.get(i);
            if (a == null || a.length != per) {
                throw new DataException("image array " + i + " holds " + (a == null ? "nothing (null)" : a.length + " bytes")
                        + ", expected " + per + " (" + channels + "x" + height + "x" + width + ", channel-major)");
            }
            System.arraycopy(a, 0, pixels, i * per, per);
        }
        return new ImageSet(pixels, labels(classNames, names), names, channels, height, width);
    }

    private static List<String> classes(int count, List<String> classNames) {
        if (count == 0) throw new DataException("no images were given");
        if (classNames.size() != count) {
            throw new DataException(count + " images but " + classNames.size() + " class names; give one name per image");
        }
        TreeSet<String> distinct = new TreeSet<>();
        for (int i = 0; i < count; i++) {
            String n = classNames.get(i);
            if (n == null || n.isBlank()) throw new DataException("the class name of image " + i + " is empty");
            distinct.add(n);
        }
        if (distinct.size() > 256) throw new DataException(distinct.size() + " classes were given, at most 256 are supported");
        return List.copyOf(distinct);
    }

    private static byte[] labels(List<String> classNames, List<String> names) {
        byte[] labels = new byte[classNames.size()];
        for (int i = 0; i < labels.length; i++) labels[i] = (byte) names.indexOf(classNames.get(i));
        return labels;
    }

    private static int checkedSize(int per, int count) {
        if ((long) per * count > Integer.MAX_VALUE - 8) throw new DataException(count + " images are too many to keep in memory");
        return per * count;
    }
}
