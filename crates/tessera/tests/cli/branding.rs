//! `tessera branding`: the brand set from the command line, its bad inputs refused by the flag
//! they came in (nothing written, nothing audited), and a running server showing it.

use super::*;

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::new_rgb8(width, height)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

#[test]
fn the_brand_is_set_from_the_cli_and_bad_parts_are_refused_by_their_flag() {
    let env = Env::sqlite();
    let shown = env.json(&["branding", "show"]);
    assert_eq!((shown["organization"].as_str(), shown["logo"].as_bool()), (Some("Tessera"), Some(false)), "{shown}");
    let logo = env.dir.path().join("logo.png");
    std::fs::write(&logo, png(1200, 300)).unwrap();
    let logo = logo.display().to_string();
    let set = env.json(&[
        "branding",
        "set",
        "--organization",
        "Contoso",
        "--accent",
        "#7A1F5C",
        "--help-url",
        "https://help.contoso.com/",
        "--logo",
        &logo,
    ]);
    assert_eq!(
        (set["organization"].as_str(), set["accent"].as_str(), set["help_url"].as_str(), set["logo"].as_bool()),
        (Some("Contoso"), Some("#7a1f5c"), Some("https://help.contoso.com/"), Some(true)),
        "{set}"
    );
    let audited = env.json(&["audit", "list", "--action", "branding.set"]);
    assert_eq!(audited.as_array().unwrap().len(), 1, "{audited}");

    // Each bad part names its flag; nothing changes and nothing is audited.
    let not_image = env.dir.path().join("logo.html");
    std::fs::write(&not_image, "<html><script>alert(1)</script></html>").unwrap();
    let not_image = not_image.display().to_string();
    for (args, flag, said) in [
        (vec!["--accent", "#ffff00"], "--accent", "too light"),
        (vec!["--accent", "blue"], "--accent", "not a colour"),
        (vec!["--help-url", "javascript:alert(1)"], "--help-url", "help_url"),
        (vec!["--help-url", "http://help.contoso.com/"], "--help-url", "https"),
        (vec!["--organization", "Con\u{7}toso"], "--organization", "control"),
        (vec!["--logo", not_image.as_str()], "--logo", "PNG, JPEG or WebP"),
        (vec![], "error: ", "nothing to change"),
    ] {
        let mut command = vec!["branding", "set"];
        command.extend(args.iter().copied());
        let error = env.fails(&command, 1);
        assert!(error.contains(flag) && error.contains(said), "{args:?}: {error}");
    }
    let usage = env.fails(&["branding", "set", "--logo", &logo, "--remove-logo"], 2);
    assert!(usage.contains("cannot be used with"), "a logo and its removal at once is bad usage: {usage}");
    assert_eq!(env.json(&["branding", "show"]), set, "unchanged");
    assert_eq!(env.json(&["audit", "list", "--action", "branding.set"]).as_array().unwrap().len(), 1);

    // A running server shows it on the sign-in page; clearing parts brings the defaults back.
    let server = Server::start(&env, &[]);
    let mut browser = super::web_client::WebClient::new(server.port);
    let page = browser.get("/login");
    assert!(page.body.contains("Sign in to Contoso") && page.body.contains("alt=\"Contoso\""), "{}", page.body);
    assert!(browser.get("/branding/style.css?v=1").body.contains("--accent: #7a1f5c;"));
    let cleared = env.json(&["branding", "set", "--organization", "", "--accent", "", "--remove-logo"]);
    assert_eq!(
        (cleared["organization"].as_str(), cleared["logo"].as_bool()),
        (Some("Tessera"), Some(false)),
        "{cleared}"
    );
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}
