//! Users and groups.

use super::*;

pub(super) async fn users_round_trip_and_lookup(store: Arc<dyn Store>, _raw: Raw) {
    let mut nu = new_user("Alice@Contoso.com");
    nu.upn = "alice.upn@contoso.com".into();
    let alice = store.create_user(&actor(), nu).await.unwrap();
    assert_eq!(alice.email, "Alice@contoso.com");
    assert_eq!(alice.state, UserState::Active);
    for key in [alice.id.to_string(), "alice@CONTOSO.com".into(), "ALICE.UPN@contoso.com".into()] {
        assert_eq!(store.find_user(&key).await.unwrap().id, alice.id, "{key}");
    }
    assert!(matches!(store.find_user("nobody@contoso.com").await, Err(StoreError::NotFound { .. })));
    let suspended = store.set_user_state(&actor(), alice.id, UserState::Suspended).await.unwrap();
    assert_eq!(suspended.state, UserState::Suspended);
    store.set_password(&actor(), alice.id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").await.unwrap();
    assert!(store.find_user(&alice.email).await.unwrap().password_hash.is_some());
    // The identity Entra matches: changed with its audit row; another user's is refused whole.
    let bob = store.create_user(&actor(), new_user("bob@contoso.com")).await.unwrap();
    let changed = store.set_user_identity(&actor(), alice.id, Some("ada@contoso.com"), Some("QWRhLTE=")).await.unwrap();
    assert_eq!((changed.upn.as_str(), changed.immutable_id.as_str()), ("ada@contoso.com", "QWRhLTE="));
    for (upn, id, field) in
        [(Some("BOB@contoso.com"), None, "upn"), (None, Some(bob.immutable_id.as_str()), "immutable_id")]
    {
        let refused = store.set_user_identity(&actor(), alice.id, upn, id).await;
        assert!(matches!(refused, Err(StoreError::Conflict { field: f, .. }) if f == field), "{refused:?}");
    }
    assert_eq!(store.find_user("ada@contoso.com").await.unwrap().immutable_id, "QWRhLTE=");
    store.delete_user(&actor(), alice.id).await.unwrap();
    assert!(matches!(store.delete_user(&actor(), alice.id).await, Err(StoreError::NotFound { .. })));
}

pub(super) async fn users_paginate_in_creation_order(store: Arc<dyn Store>, _raw: Raw) {
    for i in 0..5 {
        store.create_user(&actor(), new_user(&format!("u{i}@contoso.com"))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = store.list_users(&page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.into_iter().map(|u| u.email));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("u{i}@contoso.com")).collect();
    assert_eq!(seen, expected);
}

pub(super) async fn duplicate_email_upn_or_immutable_id_writes_nothing(store: Arc<dyn Store>, _raw: Raw) {
    let first = store.create_user(&actor(), new_user("bob@contoso.com")).await.unwrap();
    let before = audit_count(&store).await;
    let dup_email = store.create_user(&actor(), new_user("BOB@contoso.com")).await;
    assert!(matches!(dup_email, Err(StoreError::Conflict { field: "email", .. })), "{dup_email:?}");
    let mut upn_clash = new_user("other@contoso.com");
    upn_clash.upn = "Bob@Contoso.com".into();
    assert!(matches!(store.create_user(&actor(), upn_clash).await, Err(StoreError::Conflict { .. })));
    let mut id_clash = new_user("third@contoso.com");
    id_clash.immutable_id = first.immutable_id.clone();
    assert!(matches!(
        store.create_user(&actor(), id_clash).await,
        Err(StoreError::Conflict { field: "immutable_id", .. })
    ));
    assert_eq!(store.list_users(&PageRequest::first(100)).await.unwrap().items.len(), 1);
    assert_eq!(audit_count(&store).await, before, "a refused change must not be audited as made");
}

pub(super) async fn concurrent_creates_of_one_email_exactly_one_wins(store: Arc<dyn Store>, _raw: Raw) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_user(&actor(), new_user("race@contoso.com")).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { field, .. }) => assert_eq!(field, "email"),
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.list_users(&PageRequest::first(100)).await.unwrap().items.len(), 1);
}

pub(super) async fn an_import_writes_every_row_or_none(store: Arc<dyn Store>, _raw: Raw) {
    use tessera_core::import::ImportRow;
    store
        .create_user(
            &actor(),
            NewUser::new("old@contoso.com", None, None, None, Some("old-anchor"), String::new).unwrap(),
        )
        .await
        .unwrap();
    store.create_group(&actor(), NewGroup::new("Staff", None).unwrap()).await.unwrap();
    let row = |line: usize, email: &str, anchor: &str, groups: &[&str]| ImportRow {
        line,
        user: NewUser::new(email, None, None, None, Some(anchor), String::new).unwrap(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        generated_anchor: false,
    };
    let good = [row(2, "a@contoso.com", "a1", &["staff", "Finance"]), row(3, "b@contoso.com", "b1", &["FINANCE"])];
    let audit = || async { store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap().len() };
    let before = audit().await;

    let preview = store.import_users(&actor(), &good, true).await.unwrap();
    assert_eq!((preview.users, preview.memberships, preview.written), (2, 3, false));
    assert_eq!(preview.new_groups, ["Finance"]);
    assert!(store.find_user("a@contoso.com").await.is_err() && store.find_group("Finance").await.is_err());

    let clashing =
        [row(2, "c@contoso.com", "old-anchor", &["New"]), row(3, "OLD@contoso.com", "c2", &[]), good[0].clone()];
    let refused = store.import_users(&actor(), &clashing, false).await.unwrap();
    assert!(!refused.written);
    let lines: Vec<usize> = refused.clashes.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [2, 3]);
    assert!(store.find_user("a@contoso.com").await.is_err() && store.find_group("New").await.is_err());
    assert_eq!(audit().await, before, "a preview and a refusal write nothing");

    let done = store.import_users(&actor(), &good, false).await.unwrap();
    assert!(done.written && done.clashes.is_empty());
    let finance = store.find_group("finance").await.unwrap();
    let members: Vec<String> = store.group_members(finance.id).await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(members.len(), 2, "{members:?}");
    let staff = store.find_group("Staff").await.unwrap();
    assert_eq!(store.group_members(staff.id).await.unwrap().len(), 1);
    // Two users, one new group, three memberships: each with its audit row.
    assert_eq!(audit().await, before + 2 + 1 + 3);
}

pub(super) async fn memberships_and_groups(store: Arc<dyn Store>, _raw: Raw) {
    let user = store.create_user(&actor(), new_user("carol@contoso.com")).await.unwrap();
    let group = store.create_group(&actor(), NewGroup::new("Sales", Some("the sales team")).unwrap()).await.unwrap();
    assert!(matches!(
        store.create_group(&actor(), NewGroup::new("sales", None).unwrap()).await,
        Err(StoreError::Conflict { field: "name", .. })
    ));
    assert_eq!(store.find_group("SALES").await.unwrap().id, group.id);
    assert!(store.add_member(&actor(), group.id, user.id).await.unwrap());
    assert!(!store.add_member(&actor(), group.id, user.id).await.unwrap(), "second add is a no-op");
    assert_eq!(store.group_members(group.id).await.unwrap()[0].id, user.id);
    assert_eq!(store.groups_of_user(user.id).await.unwrap()[0].id, group.id);
    assert!(store.remove_member(&actor(), group.id, user.id).await.unwrap());
    assert!(!store.remove_member(&actor(), group.id, user.id).await.unwrap());
    store.add_member(&actor(), group.id, user.id).await.unwrap();
    store.delete_user(&actor(), user.id).await.unwrap();
    assert!(store.group_members(group.id).await.unwrap().is_empty(), "deleting a user drops its memberships");
    store.delete_group(&actor(), group.id).await.unwrap();
    assert!(matches!(store.find_group("Sales").await, Err(StoreError::NotFound { .. })));
}
