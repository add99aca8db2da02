//! What happens when ffmpeg/ffprobe cannot be found. Lives in its own test
//! binary because it changes process-wide environment variables.

use vidstega_media::{ensure_tools, probe, MediaError, Tool, FFMPEG_ENV, FFPROBE_ENV};

#[test]
fn missing_tools_name_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("v.mp4");
    std::fs::write(&video, b"not looked at").unwrap();

    std::env::set_var(FFPROBE_ENV, dir.path().join("no-such-ffprobe"));
    let err = probe(&video).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::ToolMissing {
                tool: Tool::Ffprobe,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("sudo apt-get install ffmpeg"), "{msg}");
    assert!(msg.contains("brew install ffmpeg"), "{msg}");
    assert!(msg.contains(FFPROBE_ENV), "{msg}");

    std::env::remove_var(FFPROBE_ENV);
    std::env::set_var(FFMPEG_ENV, "definitely-not-an-ffmpeg");
    let err = ensure_tools().unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::ToolMissing {
                tool: Tool::Ffmpeg,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not on PATH"), "{err}");

    // Pointing the variable at the real binary works.
    std::env::set_var(FFMPEG_ENV, "ffmpeg");
    let tools = ensure_tools().expect("these tests need ffmpeg installed: sudo apt-get install ffmpeg");
    assert!(tools.ffmpeg_path.is_absolute());
    std::env::remove_var(FFMPEG_ENV);
}
