# MonitoringSnapshot, AlertChannel and Alert now belong to the training app (training 0005 took them over,
# tables unchanged): drop them from the analytics state only. Their tables stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0005_rollup_dirty_days'),
        ('training', '0005_monitoring_and_alerts'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='Alert'),
                migrations.DeleteModel(name='AlertChannel'),
                migrations.DeleteModel(name='MonitoringSnapshot'),
            ],
            database_operations=[],
        ),
    ]
