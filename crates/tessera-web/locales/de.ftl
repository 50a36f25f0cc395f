# Tessera's user pages in German (Sie-Form, as enterprise sign-in pages address their users).
# The same keys as en.ftl (a test checks).

## Every page
frame-help = Hilfe
frame-language = Sprache
frame-skip = Zum Inhalt springen

## Signing in
login-title = Anmelden
login-heading = Bei { $organization } anmelden
login-continue-to = um mit { $app } fortzufahren
login-username = E-Mail-Adresse oder Benutzername
login-password = Kennwort
login-submit = Anmelden
login-failed = Die E-Mail-Adresse oder das Kennwort ist falsch, oder das Konto kann sich derzeit nicht anmelden.
login-change-at-source = Ihr Kennwort ist richtig, aber das Verzeichnis Ihrer Organisation verlangt zuerst eine Änderung (es ist abgelaufen oder muss bei der nächsten Anmeldung geändert werden). Ändern Sie es dort, etwa bei der Anmeldung an einem Computer Ihrer Organisation oder auf deren Kennwortseite, und melden Sie sich dann hier mit dem neuen an.
login-throttled-title = Zu viele Versuche
login-throttled = Aus Ihrem Netzwerk gab es zu viele fehlgeschlagene Anmeldungen. Warten Sie einige Minuten und versuchen Sie es erneut.
login-windows-refused = Die Windows-Anmeldung hat für Ihr Konto hier nicht funktioniert. Melden Sie sich mit Ihrer E-Mail-Adresse oder Ihrem Benutzernamen und Ihrem Kennwort an.

## Changing a directory password that must be changed before signing in
change-at-source-title = Kennwort ändern
change-at-source-why = Ihr Kennwort ist richtig, aber das Verzeichnis Ihrer Organisation verlangt vor der Anmeldung eine Änderung: Es ist abgelaufen oder muss bei der nächsten Anmeldung geändert werden. Wählen Sie hier ein neues. Es wird im Verzeichnis geändert und gilt überall, wo dieses Verzeichnis Sie anmeldet.
change-at-source-for = Kennwort von { $username } ändern.
change-at-source-submit = Kennwort ändern und anmelden
change-at-source-back = Zurück zur Anmeldung
change-at-source-changed = Ihr Kennwort wurde geändert. Melden Sie sich mit dem neuen an.
change-at-source-expired = Dieses Formular zur Kennwortänderung ist abgelaufen. Melden Sie sich erneut mit Ihrem aktuellen Kennwort an.

## The second factor
mfa-title = Bestätigen Sie Ihre Identität
mfa-instructions = Geben Sie den 6-stelligen Code aus Ihrer Authentifizierungs-App oder einen Ihrer Wiederherstellungscodes ein.
mfa-code = Code
mfa-submit = Bestätigen
mfa-wrong-code = Dieser Code ist nicht richtig. Prüfen Sie Ihre Authentifizierungs-App und versuchen Sie es erneut.

## Setting up an authenticator app
enrol-title = Authentifizierungs-App einrichten
enrol-instructions = Scannen Sie diesen Code mit Ihrer Authentifizierungs-App und geben Sie dann den 6-stelligen Code ein, den sie anzeigt.
enrol-qr = QR-Code zum Scannen mit Ihrer Authentifizierungs-App
enrol-key = Oder geben Sie diesen Schlüssel von Hand ein:
enrol-open-app = In einer Authentifizierungs-App auf diesem Gerät öffnen
enrol-submit = Aktivieren
enrol-already-title = Authentifizierungs-App bereits eingerichtet
enrol-already = Sie verwenden bereits eine Authentifizierungs-App. Um sie zu ersetzen, entfernen Sie sie zuerst auf Ihrer Kontoseite.

## Recovery codes
codes-title = Ihre Wiederherstellungscodes
codes-heading = Ihre Authentifizierungs-App ist eingerichtet
codes-new-heading = Ihre neuen Wiederherstellungscodes
codes-instructions = Bewahren Sie diese Wiederherstellungscodes sicher auf. Jeder Code kann einmal verwendet werden, falls Sie Ihr Gerät verlieren. Sie werden nur jetzt angezeigt.
codes-continue = Weiter

## The password-update notice
notice-title = Hinweis zur Kennwortänderung
notice-text = Sie melden sich jetzt mit diesem Konto bei den Anwendungen von { $organization } an, Microsoft 365 eingeschlossen. Verwenden Sie dieses Kennwort überall, wo Sie zur Anmeldung bei ihnen aufgefordert werden; Ihr altes Microsoft-365-Kennwort funktioniert dort nicht mehr.
notice-submit = Verstanden

## The portal of applications
portal-title = Ihre Anwendungen
portal-signed-in-as = Angemeldet als { $user }
portal-sign-out = Abmelden
portal-account = Ihr Konto
portal-set-up-mfa = Authentifizierungs-App einrichten
portal-empty = Ihnen sind noch keine Anwendungen zugewiesen.

## Handing over to an application
post-title = Anmeldung bei { $app }
post-fallback = Falls nichts geschieht, fahren Sie selbst mit der Anwendung fort.
opening-title = { $app } wird geöffnet
opening-continue = Weiter zu { $app }
post-continue = Weiter

## Messages
message-reference = Referenz: { $reference }
message-back = Zurück zu Ihren Anwendungen
signed-out-title = Abgemeldet
signed-out-heading = Sie sind abgemeldet
signed-out-text = Ihre Sitzung wurde beendet. Schließen Sie den Browser, um auch Sitzungen bei Anwendungen zu beenden, die eigene führen.
signed-out-again = Erneut anmelden
sign-out-elsewhere-title = Abmelden
sign-out-elsewhere = Um sich abzumelden, öffnen Sie Ihre Anwendungsseite und wählen Sie „Abmelden“.
failure-title = Etwas ist schiefgelaufen
failure = Die Anmeldung ist gerade nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.
busy-title = Ausgelastet
busy = Gerade melden sich zu viele Personen an. Versuchen Sie es in einigen Sekunden erneut.
denied-title = Sie können diese Anwendung nicht öffnen
denied-user_suspended = Ihr Konto ist gesperrt. Wenden Sie sich an Ihre Administration.
denied-no_granted_group = Sie haben keinen Zugriff auf diese Anwendung. Bitten Sie Ihre Administration, Sie einer Gruppe hinzuzufügen, die sie verwenden darf.
denied-upn_other_domain = Ihr Konto gehört zu einer anderen Microsoft-365-Domäne als diese Anmeldeseite. Melden Sie sich über die Anmeldeseite Ihrer eigenen Domäne an (geben Sie bei der Microsoft-Anmeldung Ihre vollständige E-Mail-Adresse ein).
denied-network_not_allowed = Diese Anwendung kann aus Ihrem aktuellen Netzwerk nicht verwendet werden. Verbinden Sie sich mit dem Netzwerk Ihrer Organisation und versuchen Sie es erneut.
resume-gone-title = Diese Anmeldeanfrage kann nicht fortgesetzt werden
resume-gone = Sie ist abgelaufen oder wurde in einem anderen Browser begonnen. Kehren Sie zur Anwendung zurück und melden Sie sich erneut an.
session-ended-title = Sie wurden abgemeldet
session-ended = Ihre Sitzung wurde beendet (Sie haben sich abgemeldet, oder Ihr Konto wurde gesperrt), während { $app } geöffnet wurde. Kehren Sie zur Anwendung zurück und melden Sie sich erneut an.
refused-sign-in-title = Diese Anmeldeanfrage wurde abgelehnt
refused-sign-in = { $app } hat eine Anmeldeanfrage gesendet, die nicht angenommen werden kann: { $detail }. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut, oder informieren Sie Ihre Administration.
refused-sign-out-title = Diese Abmeldeanfrage wurde abgelehnt
refused-sign-out = { $app } hat eine Abmeldeanfrage gesendet, die nicht angenommen werden kann: { $detail }. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut, oder informieren Sie Ihre Administration.
error-title = Anfrage abgelehnt
error-form_refused = Dieses Formular ist abgelaufen oder stammt nicht von dieser Website. Öffnen Sie die Seite erneut und versuchen Sie es noch einmal.
error-unreadable_forwarding = Ihre Anfrage kam über einen Proxy, dessen Weiterleitungs-Header nicht gelesen werden konnte. Versuchen Sie es erneut.
error-not_found-title = Nicht gefunden
error-app_not_found = Diese Anwendung gibt es nicht.

## The account page
account-title = Ihr Konto
account-back = Zurück zu Ihren Anwendungen
passkey-enrol-back = Zurück zu Ihrem Konto
account-signed-in-as = { $name } ({ $email })
account-password-heading = Kennwort
account-password-current = Aktuelles Kennwort
account-password-new = Neues Kennwort
account-password-confirm = Neues Kennwort wiederholen
account-password-hint = Mindestens { $min } Zeichen. Eine Passphrase aus einigen Wörtern ist leicht zu merken und schwer zu erraten.
account-password-submit = Kennwort ändern
account-password-changed = Ihr Kennwort wurde geändert. Verwenden Sie ab jetzt das neue.
account-password-directory = Ihr Kennwort wird von { $directory } verwaltet. Eine Änderung hier wird dort vorgenommen und gilt überall, wo dieses Verzeichnis Sie anmeldet.
account-password-refused = { $directory } hat das neue Kennwort abgelehnt: { $reason }.
account-password-rules = { $directory } hat das neue Kennwort abgelehnt: Es erfüllt die Kennwortregeln des Verzeichnisses nicht (Länge, Komplexität, Verlauf oder wie bald ein Kennwort erneut geändert werden darf).
account-password-unavailable = Das Verzeichnis Ihrer Organisation ist gerade nicht erreichbar, daher wurde Ihr Kennwort nicht geändert. Versuchen Sie es gleich noch einmal.
account-password-none = Ihr Konto hat hier kein Kennwort. Fragen Sie Ihre Administration, wie Sie sich anmelden.
account-password-wrong = Das aktuelle Kennwort ist nicht richtig.
account-password-mismatch = Die beiden neuen Kennwörter stimmen nicht überein.
account-password-same = Das neue Kennwort muss sich vom aktuellen unterscheiden.
account-password-weak = Das neue Kennwort erfüllt die Regeln nicht: Verwenden Sie { $min } bis { $max } Zeichen ohne Steuerzeichen.
account-factors-heading = Authentifizierungs-App
account-factors-none = Sie haben keine Authentifizierungs-App. Ihre Codes schützen Ihr Konto auch dann, wenn Ihr Kennwort gestohlen wird, wo kein Passkey verwendet werden kann.
account-factors-add = Authentifizierungs-App einrichten
account-factor-app = Authentifizierungs-App
account-factor-added = Hinzugefügt am { $date }
account-factor-name = Name
account-factor-rename = Umbenennen
account-factor-renamed = Die Authentifizierungs-App wurde umbenannt.
account-factor-name-invalid = Geben Sie einen Namen mit 1 bis 64 Zeichen ohne Steuerzeichen an.
account-factor-remove = Entfernen
account-factor-remove-confirm = Geben Sie zum Entfernen Ihr Kennwort ein
account-factor-removed = Die Authentifizierungs-App wurde entfernt. Richten Sie eine neue ein, bevor Sie sie wieder brauchen.
account-passkeys-heading = Passkeys und Sicherheitsschlüssel
account-passkeys-none = Sie haben noch keinen Passkey. Ein Passkey meldet Sie mit der Bildschirmsperre Ihres Geräts oder einem Sicherheitsschlüssel an und kann nicht abgefischt werden.
account-passkeys-added = Hinzugefügt
account-passkeys-used = Zuletzt verwendet
account-passkeys-never = Nie
account-passkeys-unavailable = Passkeys sind auf diesem Server nicht verfügbar: Seine Adresse muss ein Hostname über https sein. Fragen Sie Ihren Administrator.
account-passkey-name = Name des neuen Passkeys
account-passkey-confirm = Zum Hinzufügen geben Sie Ihr Passwort ein
account-passkey-add = Passkey hinzufügen
account-passkey-added = Der Passkey wurde hinzugefügt.
account-passkey-removed = Der Passkey wurde entfernt.
account-passkey-remove-which = Zu entfernender Passkey
account-passkey-expired = Diese Passkey-Anfrage ist abgelaufen (sie wartet fünf Minuten). Beginnen Sie erneut.
account-passkey-name-taken = Sie haben bereits einen Passkey mit diesem Namen. Wählen Sie einen anderen Namen.
account-passkey-already = Dieser Authenticator enthält bereits einen Ihrer Passkeys.
account-passkey-refused = Die Antwort Ihres Authenticators wurde nicht angenommen. Versuchen Sie es erneut oder verwenden Sie einen anderen Authenticator.
account-passkey-show-one-first = Sie haben bereits einen Passkey: Um einen weiteren hinzuzufügen, melden Sie sich ab und mit einem Ihrer Passkeys wieder an.
account-passkey-model = Ihre Organisation erlaubt diese Art von Authenticator nicht. Verwenden Sie einen, den Ihre Administration ausgibt.
passkey-enrol-title = Passkey hinzufügen
passkey-enrol-text = Erstellen Sie den Passkey „{ $name }“ mit der Bildschirmsperre Ihres Geräts oder Ihrem Sicherheitsschlüssel.
passkey-enrol-submit = Passkey erstellen
passkey-enrol-failed = Es wurde kein Passkey erstellt: Ihr Browser oder Authenticator hat abgelehnt. Versuchen Sie es erneut oder gehen Sie zurück.
passkey-needs-script = Passkeys benötigen JavaScript, das in diesem Browser ausgeschaltet ist.
mfa-passkey-heading = Passkey verwenden
mfa-passkey-submit = Meinen Passkey verwenden
mfa-code-heading = Oder einen Code eingeben
mfa-passkey-only = Diese Anwendung akzeptiert als zweiten Schritt nur einen Passkey. Verwenden Sie einen Ihrer Passkeys.
mfa-passkey-refused = Ihr Passkey wurde nicht angenommen. Versuchen Sie es erneut oder verwenden Sie einen anderen Passkey.
mfa-nothing-title = Ihr zweiter Faktor kann hier nicht verwendet werden
mfa-nothing = Ihre Passkeys können auf diesem Server nicht verwendet werden. Wenden Sie sich an Ihre Administration, die Ihre zweiten Faktoren zurücksetzen kann.
login-passkey = Mit einem Passkey anmelden
login-passkey-refused = Ihr Passkey wurde nicht angenommen. Versuchen Sie es erneut oder melden Sie sich mit Ihrem Kennwort an.
passkey-sign-in-title = Mit einem Passkey anmelden
passkey-sign-in-text = Wählen Sie Ihren Passkey für diese Website: Ihr Gerät fragt nach seiner Bildschirmsperre oder Ihr Sicherheitsschlüssel nach seiner PIN.
passkey-sign-in-failed = Es wurde kein Passkey verwendet: Ihr Browser oder Authenticator hat abgelehnt. Versuchen Sie es erneut oder melden Sie sich mit Ihrem Kennwort an.
passkey-use-password = Stattdessen mit Kennwort anmelden
passkey-passwordless-off = Diese Anwendung akzeptiert keinen Passkey allein. Melden Sie sich mit Ihrem Kennwort an.
passkey-required-title = Diese Anwendung erfordert einen Passkey
passkey-required-text = Diese Anwendung akzeptiert als zweiten Schritt nur einen Passkey (oder einen Sicherheitsschlüssel); ein Code aus einer Authenticator-App genügt nicht. Fügen Sie auf Ihrer Kontoseite einen Passkey hinzu und öffnen Sie die Anwendung dann erneut.
passkey-required-account = Passkey auf Ihrer Kontoseite hinzufügen
passkey-required-unavailable = Diese Anwendung akzeptiert nur einen Passkey, aber Passkeys sind auf diesem Server nicht verfügbar. Wenden Sie sich an Ihre Administration.
account-codes-heading = Wiederherstellungscodes
account-codes-left = { $count ->
    [0] Sie haben keine Wiederherstellungscodes mehr.
    [one] Sie haben noch 1 Wiederherstellungscode.
   *[other] Sie haben noch { $count } Wiederherstellungscodes.
}
account-codes-renew = Neue Wiederherstellungscodes erstellen
account-codes-renew-confirm = Geben Sie Ihr Kennwort ein, um neue Codes zu erstellen (die alten werden ungültig)
account-sign-ins-heading = Letzte Anmeldungen
account-sign-ins-when = Wann
account-sign-ins-what = Ereignis
account-sign-ins-from = Herkunft (IP-Adresse)
account-sign-ins-none = Noch keine Anmeldungen.
account-sign-in-password = Angemeldet
account-sign-in-failed = Falsches Kennwort oder falscher Code
account-sign-in-mfa = Mit einem zweiten Faktor bestätigt
account-sign-in-app = { $app } geöffnet
account-sign-in-denied = Zugriff auf { $app } verweigert
account-sign-in-signed-out = Abgemeldet
account-sessions-heading = Sitzungen
account-sessions-text = Auf einem anderen Computer oder Browser angemeldet, den Sie nicht mehr verwenden? Melden Sie sich überall ab, auch in diesem Browser.
account-sessions-submit = Überall abmelden
account-unknown-app = eine Anwendung, die es nicht mehr gibt
