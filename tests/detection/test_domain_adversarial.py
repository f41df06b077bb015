"""Adversarial domain alignment: the gradient reversal, the discriminator, and one teacher-student step with it."""

import torch

from revis.detection.detector import build_detector
from revis.detection.domain_adversarial import DomainAlignment, DomainDiscriminator, reverse_gradient
from revis.detection.mean_teacher import MeanTeacherConfig, make_optimizer, teacher_student_step


def test_the_reversal_is_the_identity_forward_and_negates_the_gradient():
    x = torch.randn(3, 4, requires_grad=True)
    y = reverse_gradient(x)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.equal(x.grad, -torch.arange(4.0).expand(3, 4))


def test_the_discriminator_learns_while_the_features_get_the_opposite_push():
    torch.manual_seed(0)
    features = torch.cat([torch.randn(8, 16, 3, 3) - 1.0, torch.randn(8, 16, 3, 3) + 1.0]).requires_grad_()
    domains = torch.cat([torch.zeros(8), torch.ones(8)]).view(-1, 1, 1, 1).expand(16, 1, 3, 3)
    discriminator = DomainDiscriminator(16, hidden=8)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(discriminator(features), domains)
        optimizer.zero_grad()
        features.grad = None
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]  # the domains are separable: the discriminator learns them
    # the gradient reaching the features ascends the discriminator's loss: a step along -grad makes it worse
    with torch.no_grad():
        moved = features - 0.5 * features.grad
        worse = torch.nn.functional.binary_cross_entropy_with_logits(discriminator.net(moved), domains)
        before = torch.nn.functional.binary_cross_entropy_with_logits(discriminator.net(features), domains)
    assert float(worse) > float(before)


def test_a_teacher_student_step_with_alignment_trains_the_discriminator_and_reports_its_loss():
    student = build_detector("yolov8n.yaml", 1, 0)
    teacher = build_detector("yolov8n.yaml", 1, 0).eval()
    optimizer = make_optimizer(student, 0.001, 0.0)
    alignment = DomainAlignment(student, layer=9, weight=0.1, lr=0.001, seed=0)
    before = [p.detach().clone() for p in alignment.discriminator.parameters()]
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    labeled = (images, [torch.tensor([[8.0, 8.0, 30.0, 30.0]]), torch.zeros(0, 4)], [torch.zeros(1), torch.zeros(0)])
    unlabeled = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    report = teacher_student_step(
        student,
        teacher,
        optimizer,
        labeled,
        unlabeled,
        MeanTeacherConfig(tau=0.0),
        generator,
        alignment=alignment,
        labeled_domains=torch.tensor([0, 1]),
    )
    assert 0.3 < report.loss_domain < 1.5  # about log 2 for an untrained discriminator
    assert any(not torch.equal(a, b) for a, b in zip(before, alignment.discriminator.parameters()))
    alignment.tap.remove()
