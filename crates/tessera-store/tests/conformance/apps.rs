//! Applications, grants and the authorization rule.

use super::*;

pub(super) async fn access_requires_a_granted_group_and_an_active_user(store: Arc<dyn Store>, _raw: Raw) {
    let user = store.create_user(&actor(), new_user("dave@contoso.com")).await.unwrap();
    let staff = store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let other = store.create_group(&actor(), NewGroup::new("Other", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("contoso.com", "Microsoft 365"), None).await.unwrap();
    store.add_member(&actor(), staff.id, user.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    store.grant(&actor(), app.id, other.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    store.grant(&actor(), app.id, staff.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Allowed { via: vec![staff.id] });
    store.set_user_state(&actor(), user.id, UserState::Suspended).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::UserSuspended));
    store.set_user_state(&actor(), user.id, UserState::Active).await.unwrap();
    store.revoke(&actor(), app.id, staff.id).await.unwrap();
    assert_eq!(store.check_access(user.id, app.id).await.unwrap(), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    store.grant(&actor(), app.id, staff.id).await.unwrap();
    store.remove_member(&actor(), staff.id, user.id).await.unwrap();
    assert!(!store.check_access(user.id, app.id).await.unwrap().is_allowed());
}

pub(super) async fn grant_is_the_same_from_either_side(store: Arc<dyn Store>, _raw: Raw) {
    let group = store.create_group(&actor(), NewGroup::new("Engineering", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("fabrikam.com", "Fabrikam 365"), None).await.unwrap();
    assert!(store.grant(&actor(), app.id, group.id).await.unwrap());
    assert!(!store.grant(&actor(), app.id, group.id).await.unwrap(), "granting twice writes one grant");
    assert_eq!(store.granted_groups(app.id).await.unwrap().len(), 1);
    assert_eq!(store.apps_of_group(group.id).await.unwrap()[0].id, app.id);
    store.delete_group(&actor(), group.id).await.unwrap();
    assert!(store.granted_groups(app.id).await.unwrap().is_empty(), "deleting a group drops its grants");
}

pub(super) async fn set_grants_makes_the_granted_groups_exactly_so_or_changes_nothing(
    store: Arc<dyn Store>,
    _raw: Raw,
) {
    let staff = store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let sales = store.create_group(&actor(), NewGroup::new("Sales", None).unwrap()).await.unwrap();
    let app = store.create_app(&actor(), m365("fabrikam.com", "Fabrikam 365"), None).await.unwrap();
    assert_eq!(store.set_grants(&actor(), app.id, &[staff.id, sales.id]).await.unwrap(), (2, 0));
    let before = audit_count(&store).await;
    let ghost = tessera_core::GroupId::new();
    assert!(matches!(store.set_grants(&actor(), app.id, &[staff.id, ghost]).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.granted_groups(app.id).await.unwrap().len(), 2, "a bad set changes nothing");
    assert_eq!(audit_count(&store).await, before);
    assert_eq!(store.set_grants(&actor(), app.id, &[sales.id, sales.id]).await.unwrap(), (0, 1));
    let names: Vec<String> = store.granted_groups(app.id).await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["Sales"]);
    assert_eq!(store.set_grants(&actor(), app.id, &[sales.id]).await.unwrap(), (0, 0), "the same set writes nothing");
    assert_eq!(audit_count(&store).await, before + 1);
    assert!(matches!(store.set_grants(&actor(), AppId::new(), &[]).await, Err(StoreError::NotFound { .. })));

    // From the group's side (its Groups Configuration panel), the same rule.
    let other = store.create_app(&actor(), m365("contoso.com", "Contoso 365"), None).await.unwrap();
    let before = audit_count(&store).await;
    assert!(matches!(
        store.set_group_apps(&actor(), staff.id, &[other.id, AppId::new()]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_group_apps(&actor(), tessera_core::GroupId::new(), &[]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(audit_count(&store).await, before, "a bad set changes nothing");
    assert_eq!(store.set_group_apps(&actor(), sales.id, &[other.id]).await.unwrap(), (1, 1));
    let apps: Vec<AppId> = store.apps_of_group(sales.id).await.unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(apps, [other.id]);
    assert!(store.granted_groups(app.id).await.unwrap().is_empty());
    assert_eq!(audit_count(&store).await, before + 2);
}

pub(super) async fn m365_domain_and_label_unique(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    assert_eq!(app.kind.m365_domain(), Some("contoso.com"));
    assert_eq!(app.issuer.as_deref(), Some("http://127.0.0.1:8080/m365/contoso.com"));
    let before = audit_count(&store).await;
    assert!(matches!(
        store.create_app(&actor(), m365("CONTOSO.com", "Another"), None).await,
        Err(StoreError::Conflict { field: "domain", .. })
    ));
    assert!(matches!(
        store.create_app(&actor(), m365("other.com", "m365"), None).await,
        Err(StoreError::Conflict { field: "label", .. })
    ));
    assert_eq!(audit_count(&store).await, before);
    assert_eq!(store.list_apps(&PageRequest::first(10)).await.unwrap().items.len(), 1);
    assert_eq!(store.find_app("m365").await.unwrap().id, app.id);
    let found = store.find_app(&app.id.to_string()).await.unwrap();
    assert_eq!(found.kind.m365_domain(), Some("contoso.com"));
    assert_eq!(found.kind.m365_idp_path(), Some("contoso.com"), "the IdP path defaults to the domain");
    assert_eq!(store.find_app_by_idp_path("CONTOSO.com").await.unwrap().id, app.id);
}

pub(super) async fn app_details_change_with_an_audit_row_and_a_taken_label_is_refused(
    store: Arc<dyn Store>,
    _raw: Raw,
) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    store.create_app(&actor(), m365("fabrikam.com", "Fabrikam"), None).await.unwrap();
    let before = audit_count(&store).await;
    let details =
        |label, description, portal_image| AppDetails { label, description, portal_image, show_in_portal: true };
    for (change, field) in [
        (details("fabrikam", "", None), "label"),
        (details("", "", None), "label"),
        (details("M365", "bad\u{7}", None), "description"),
        (details("M365", "", Some("data:image/svg+xml;base64,AAAA")), "portal_image"),
        (details("M365", "", Some("https://images.example/tile.png")), "portal_image"),
    ] {
        let (label, description) = (change.label, change.description);
        let refused = store.update_app_details(&actor(), app.id, &change).await;
        assert!(
            matches!(&refused, Err(StoreError::Conflict { field: f, .. }) if *f == field)
                || matches!(&refused, Err(StoreError::Invalid(e)) if e.field() == field),
            "{label:?} {description:?}: {refused:?}"
        );
    }
    assert_eq!(audit_count(&store).await, before, "refusals write nothing");
    let change = AppDetails {
        label: " Mail ",
        description: "Mail and Office",
        portal_image: Some("data:image/png;base64,iVBORw0KGgo="),
        show_in_portal: false,
    };
    let changed = store.update_app_details(&actor(), app.id, &change).await.unwrap();
    assert_eq!(
        (changed.label.as_str(), changed.description.as_str(), changed.portal_image.as_deref(), changed.show_in_portal),
        ("Mail", "Mail and Office", Some("data:image/png;base64,iVBORw0KGgo="), false)
    );
    assert_eq!(store.find_app("mail").await.unwrap().id, app.id);
    assert_eq!(audit_count(&store).await, before + 1);
}

pub(super) async fn idp_path_is_unique_and_settings_change_with_an_audit_row(store: Arc<dyn Store>, _raw: Raw) {
    let mut config = M365Config::for_domain("fabrikam.com");
    config.idp_path = Some("fab-sso".into());
    let new = NewApplication::new("http://127.0.0.1:8080", "Fab", None, None, true, AppKind::M365(config)).unwrap();
    let app = store.create_app(&actor(), new, None).await.unwrap();
    assert_eq!(store.find_app_by_idp_path("fab-sso").await.unwrap().id, app.id);
    assert!(matches!(store.find_app_by_idp_path("fabrikam.com").await, Err(StoreError::NotFound { .. })));
    let mut clash = M365Config::for_domain("other.com");
    clash.idp_path = Some("FAB-SSO".into());
    let clash = NewApplication::new("http://127.0.0.1:8080", "Other", None, None, true, AppKind::M365(clash)).unwrap();
    assert!(matches!(
        store.create_app(&actor(), clash, None).await,
        Err(StoreError::Conflict { field: "idp_path", .. })
    ));
    // Settings change; the path and domain cannot.
    let change = tessera_core::SettingsChange {
        attributes: Some(vec![tessera_core::AttributeMapping::parse("displayName=display_name").unwrap()]),
        ..Default::default()
    };
    let before = audit_count(&store).await;
    let updated = store.update_app_kind(&actor(), app.id, &change.apply(&app.kind).unwrap()).await.unwrap();
    match &updated.kind {
        AppKind::M365(c) => assert_eq!(c.attributes.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(audit_count(&store).await, before + 1);
    let mut moved = match &app.kind {
        AppKind::M365(c) => c.clone(),
        _ => unreachable!(),
    };
    moved.idp_path = Some("elsewhere".into());
    assert!(matches!(
        store.update_app_kind(&actor(), app.id, &AppKind::M365(moved)).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(audit_count(&store).await, before + 1, "a refused change writes nothing");
}

pub(super) async fn delete_apps_requires_exact_confirm_count_and_is_all_or_nothing(store: Arc<dyn Store>, _raw: Raw) {
    let a = store.create_app(&actor(), m365("a.example.com", "A"), None).await.unwrap();
    let b = store.create_app(&actor(), m365("b.example.com", "B"), None).await.unwrap();
    let group = store.create_group(&actor(), NewGroup::new("G", None).unwrap()).await.unwrap();
    store.grant(&actor(), a.id, group.id).await.unwrap();
    assert!(matches!(
        store.delete_apps(&actor(), &[a.id, b.id], 1).await,
        Err(StoreError::ConfirmCount { expected: 2, given: 1 })
    ));
    let ghost = tessera_core::AppId::new();
    assert!(matches!(store.delete_apps(&actor(), &[a.id, ghost], 2).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.list_apps(&PageRequest::first(10)).await.unwrap().items.len(), 2, "nothing deleted");
    assert_eq!(store.delete_apps(&actor(), &[a.id, b.id], 2).await.unwrap(), 2);
    assert!(store.list_apps(&PageRequest::first(10)).await.unwrap().items.is_empty());
    assert!(store.apps_of_group(group.id).await.unwrap().is_empty(), "grants go with the app");
}

pub(super) async fn app_policy_and_notice_round_trip(store: Arc<dyn Store>, _raw: Raw) {
    let app = store.create_app(&actor(), m365("contoso.com", "M365"), None).await.unwrap();
    assert_eq!(app.policy, AccessPolicy::default());
    let policy = AccessPolicy {
        require_mfa: true,
        allowed_networks: vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()],
        ..Default::default()
    };
    store.set_app_policy(&actor(), app.id, &policy).await.unwrap();
    assert_eq!(store.find_app("M365").await.unwrap().policy, policy);
    // Each passkey setting is kept, and each can be taken back.
    for (phishing_resistant, passwordless) in [(true, false), (false, true), (true, true), (false, false)] {
        let policy = AccessPolicy { phishing_resistant, passwordless, ..policy.clone() };
        store.set_app_policy(&actor(), app.id, &policy).await.unwrap();
        assert_eq!(store.find_app("M365").await.unwrap().policy, policy);
    }
    assert!(matches!(
        store.set_app_policy(&actor(), tessera_core::AppId::new(), &policy).await,
        Err(StoreError::NotFound { .. })
    ));
    let user = alice(&store).await;
    assert_eq!(user.notice_acknowledged_at, None);
    store.acknowledge_notice(&actor(), user.id, 77).await.unwrap();
    store.acknowledge_notice(&actor(), user.id, 88).await.unwrap();
    assert_eq!(
        store.find_user("alice@contoso.com").await.unwrap().notice_acknowledged_at,
        Some(77),
        "the first acknowledgement stands"
    );
    let events = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "user.notice_acknowledged").count(), 1, "audited with the change");
}

pub(super) async fn wsfed_relying_parties_round_trip(store: Arc<dyn Store>, _raw: Raw) {
    let config =
        tessera_core::WsFedRpConfig::new("urn:contoso:wiki", &["https://wiki.contoso.test/wsfed".into()], Vec::new());
    let new = NewApplication::new("https://idp.example.com", "Wiki", None, None, true, AppKind::WsFed(config.clone()))
        .unwrap();
    let app = store.create_app(&actor(), new, None).await.unwrap();
    let found = store.find_app("Wiki").await.unwrap();
    assert_eq!(found.kind, AppKind::WsFed(config.validate().unwrap()));
    assert_eq!(found.issuer, Some(format!("https://idp.example.com/apps/{}", app.id)));
    let change =
        tessera_core::SettingsChange { name_id_source: Some(tessera_core::UserAttribute::Upn), ..Default::default() };
    let updated = store.update_app_kind(&actor(), app.id, &change.apply(&found.kind).unwrap()).await.unwrap();
    assert!(matches!(updated.kind, AppKind::WsFed(c) if c.name_id_source == tessera_core::UserAttribute::Upn));
}
