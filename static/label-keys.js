// The label keys, shared by the labelling page and the review page.
//
// The keys live on the label buttons (templates/reviews/_label_buttons.html: data-label and data-key), so
// the buttons, their <kbd> hints and the keyboard never disagree. LabelKeys.labelFor(event) answers the
// label a key press means, or null (modifier keys, typing in a field, another key).
//
// On a page with a label form (form[data-label-keys], the review page) a key presses its button: the form
// posts exactly as a click does, and the page works the same without JavaScript.
(function () {
  "use strict";

  function typing(event) {
    const target = event.target;
    return Boolean(
      target &&
        (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA" || target.isContentEditable),
    );
  }

  function buttonFor(event, root) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return null;
    for (const button of (root || document).querySelectorAll("button[data-label][data-key]")) {
      if (button.dataset.key === event.key) return button;
    }
    return null;
  }

  function labelFor(event) {
    const button = buttonFor(event);
    return button ? button.dataset.label : null;
  }

  window.LabelKeys = { labelFor: labelFor, typing: typing };

  let sent = false;
  document.addEventListener("keydown", (event) => {
    const form = document.querySelector("form[data-label-keys]");
    if (!form || event.repeat) return;
    const button = buttonFor(event, form);
    if (!button || button.disabled) return;
    event.preventDefault();
    if (sent) return; // one post per page: a second key press while the first is on its way does nothing
    sent = true;
    if (form.requestSubmit) form.requestSubmit(button);
    else button.click();
  });
})();
