package org.mmoestream.model.codec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What carries over from one full snapshot to another, tensor by tensor ({@code mmoe model diff A
 * B}): a tensor of the same name, dtype and shape in both carries over; one only in B is new (it
 * would be initialized), one only in A is dropped, and one whose shape or dtype changed cannot
 * carry over (an embedding table whose bucket count changed is one: its rows are hashed for the
 * old count).
 */
public final class SnapshotDiff {
    private SnapshotDiff() {}

    /** How a tensor fares from A to B. */
    public enum Status {
        CARRIED,
        NEW,
        DROPPED,
        CHANGED
    }

    /** One tensor: its name, status and shapes in A and B (null where absent). */
    public record Entry(String name, Status status, long[] shapeA, long[] shapeB) {
        @Override
        public String toString() {
            return switch (status) {
                case CARRIED -> "carried  " + name + " " + Arrays.toString(shapeA);
                case NEW -> "new      " + name + " " + Arrays.toString(shapeB);
                case DROPPED -> "dropped  " + name + " " + Arrays.toString(shapeA);
                case CHANGED -> "changed  " + name + " " + Arrays.toString(shapeA) + " -> " + Arrays.toString(shapeB);
            };
        }
    }

    /** The tensors of two full snapshots, by name. */
    public static List<Entry> of(byte[] a, byte[] b) {
        Map<String, Safetensors.Tensor> ta = Safetensors.read(a).tensors();
        Map<String, Safetensors.Tensor> tb = Safetensors.read(b).tensors();
        TreeSet<String> names = new TreeSet<>(ta.keySet());
        names.addAll(tb.keySet());
        List<Entry> out = new ArrayList<>();
        for (String n : names) {
            Safetensors.Tensor x = ta.get(n);
            Safetensors.Tensor y = tb.get(n);
            Status s;
            if (x == null) {
                s = Status.NEW;
            } else if (y == null) {
                s = Status.DROPPED;
            } else if (x.dtype().equals(y.dtype()) && Arrays.equals(x.shape(), y.shape())) {
                s = Status.CARRIED;
            } else {
                s = Status.CHANGED;
            }
            out.add(new Entry(n, s, x == null ? null : x.shape(), y == null ? null : y.shape()));
        }
        return out;
    }
}
