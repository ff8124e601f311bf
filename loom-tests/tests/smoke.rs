#![cfg(loom)]
use loom::thread;

#[test]
fn a_one_record_then_close() {
    loom::model(|| {
        let (mut w, mut r) = shmring::channel(32).unwrap();
        let t = thread::spawn(move || {
            w.send(&[7; 3]).unwrap();
        });
        let mut buf = [0u8; 16];
        assert_eq!(r.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(r.recv(&mut buf).unwrap(), None);
        t.join().unwrap();
    });
}

#[test]
fn b_close_only() {
    loom::model(|| {
        let (w, mut r) = shmring::channel(32).unwrap();
        let t = thread::spawn(move || drop(w));
        let mut buf = [0u8; 16];
        assert_eq!(r.recv(&mut buf).unwrap(), None);
        t.join().unwrap();
    });
}

#[test]
fn c_stream_through_tiny_ring() {
    loom::model(|| {
        let (mut w, mut r) = shmring::channel(32).unwrap();
        let t = thread::spawn(move || {
            for i in 0u8..3 {
                w.send(&[i; 9]).unwrap();
            }
        });
        let mut buf = [0u8; 16];
        for i in 0u8..3 {
            assert_eq!(r.recv(&mut buf).unwrap(), Some(9));
            assert_eq!(&buf[..9], &[i; 9]);
        }
        assert_eq!(r.recv(&mut buf).unwrap(), None);
        t.join().unwrap();
    });
}
